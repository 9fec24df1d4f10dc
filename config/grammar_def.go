package config

import (
	"fmt"
	"strconv"
	"sync"

	"mboxsh/config/grammar"
)

// Mode is a configuration mode: the top level or a block.
type Mode string

const (
	ModeConfig    Mode = "config"
	ModeInterface Mode = "interface"
	ModeIKEPolicy Mode = "ike-policy"
	ModeESPPolicy Mode = "esp-policy"
	ModePeer      Mode = "ipsec-peer"
	ModeOSPF      Mode = "router-ospf"
)

// Modes lists the configuration modes, top level first.
var Modes = []Mode{ModeConfig, ModeInterface, ModeIKEPolicy, ModeESPPolicy, ModePeer, ModeOSPF}

// Parent is the mode a block belongs to ("" for the top level).
func (m Mode) Parent() Mode {
	if m == ModeConfig {
		return ""
	}
	return ModeConfig
}

// Ctx is where a statement acts: the configuration and, inside a block, the
// object the block configures.
type Ctx struct {
	Cfg   *Config
	Iface *Interface
	IKE   *IKEPolicy
	ESP   *ESPPolicy
	Peer  *Peer

	// each, set by Render while it asks a top-level one-line statement
	// for its instances, takes them one at a time: a Get that has many
	// (the rules) may hand each to each.oneLine, reusing one Args, and
	// return nil, rather than build them all at once. A Get that does
	// not know of it returns its instances as usual.
	each *render
}

// Statement is one configuration statement, declared once: its syntax and
// help (from which parsing, `?`, completion and docs derive), how it sets
// and unsets the model, and how the model yields it back for rendering.
type Statement struct {
	Mode Mode
	// Name identifies the statement in docs and diagnostics ("ip address").
	Name   string
	Syntax string
	// No is the syntax of the negated form, without the leading "no"; empty
	// when the statement cannot be negated.
	No   string
	Help map[string]string
	// Enter is the mode a block header opens; empty for a plain statement.
	Enter Mode
	// Group names the family of one-line top-level statements that print
	// together, followed by one `!`.
	Group string
	// Hidden statements are accepted on input (old spellings) but never
	// rendered or offered.
	Hidden bool
	// Set applies the statement. For a block header it finds or creates
	// the block's object and points ctx at it.
	Set func(ctx *Ctx, a grammar.Args) error
	// Unset applies the negated form.
	Unset func(ctx *Ctx, a grammar.Args) error
	// Get returns the arguments of every instance of the statement in the
	// model, in rendering order; Set with them points ctx at the block.
	Get func(ctx *Ctx) []grammar.Args
}

// UserError is a statement that is well-formed but cannot be applied; its
// text is shown to the user as is.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

func userErr(format string, a ...any) error { return &UserError{Msg: fmt.Sprintf(format, a...)} }

// commonHelp is the help of keywords shared by many statements.
var commonHelp = map[string]string{
	"no":               "Negate a command or set its defaults",
	"ip":               "Interface Internet Protocol config commands",
	"ipsec":            "IPsec VPN configuration",
	"ospf":             "OSPF interface commands",
	"policy":           "Encryption, hash and Diffie-Hellman group",
	"keylife":          "Lifetime of the security association",
	"secs":             "Lifetime in seconds",
	"enc":              "Encryption algorithm",
	"enc.AES":          "AES with a 128-bit key",
	"enc.AES-192":      "AES with a 192-bit key",
	"enc.AES-256":      "AES with a 256-bit key",
	"enc.3DES":         "Triple DES (legacy)",
	"hash":             "Integrity (hash) algorithm",
	"hash.MD5":         "HMAC-MD5 (legacy)",
	"hash.SHA":         "HMAC-SHA1",
	"hash.SHA-256":     "HMAC-SHA2-256",
	"hash.SHA-512":     "HMAC-SHA2-512",
	"num":              "Rule number (rules apply in ascending order)",
	"src":              "Match source addresses",
	"srcs":             "Source address or prefix; comma-separated list",
	"dst":              "Match destination addresses",
	"dsts":             "Destination address or prefix; comma-separated list",
	"sport":            "Match source ports (tcp/udp)",
	"sports":           "Source port or range lo-hi; comma-separated list",
	"dport":            "Match destination ports (tcp/udp)",
	"dports":           "Destination port or range lo-hi; comma-separated list",
	"proto":            "Match IP protocol",
	"proto.ip":         "Any IP protocol",
	"proto.tcp":        "TCP",
	"proto.udp":        "UDP",
	"proto.icmp":       "ICMP",
	"remark":           "Comment for this rule",
	"note":             "Comment text (quote it if it has blanks)",
	"ifname":           "Interface name; a trailing '+' matches every interface with that prefix",
	"dir":              "Direction",
	"dir.inbound":      "Traffic arriving on the interface",
	"dir.outbound":     "Traffic leaving through the interface",
	"dir.all":          "Traffic on any interface",
	"action":           "What to do with matching traffic",
	"action.permit":    "Allow the traffic",
	"action.deny":      "Drop the traffic",
	"action.overload":  "Masquerade to the outgoing interface's address",
	"action.translate": "Translate to a fixed address",
	"action.exempt":    "Do not translate (bypass NAT)",
	"action.redirect":  "Redirect to the appliance itself",
	"interface":        "Select an interface to configure",
}

// Grammar is the compiled configuration grammar.
type Grammar struct {
	stmts []*Statement
	sets  map[Mode]*grammar.Set
	cmdOf map[*Statement]*grammar.Command
}

var defaultGrammar = sync.OnceValue(func() *Grammar {
	g, err := NewGrammar(statements(), nil)
	if err != nil {
		panic(err)
	}
	return g
})

// DefaultGrammar returns the grammar of every mboxsh configuration statement.
func DefaultGrammar() *Grammar { return defaultGrammar() }

// Negation marks a grammar command that is the `no` form of a statement.
type Negation struct{ Stmt *Statement }

// Statements returns a fresh copy of every configuration statement, in
// rendering order, for building a grammar with NewGrammar.
func Statements() []*Statement { return statements() }

// NewGrammar compiles statements into per-mode grammars. extra adds
// commands of the caller's (a shell's commit, exit, do …) to the modes'
// grammars, so that abbreviation, ambiguity and `?` see them together with
// the statements; Editor.Apply hands a match of one back to the caller.
func NewGrammar(stmts []*Statement, extra map[Mode][]*grammar.Command) (*Grammar, error) {
	g := &Grammar{stmts: stmts, sets: map[Mode]*grammar.Set{}, cmdOf: map[*Statement]*grammar.Command{}}
	byMode := map[Mode][]*grammar.Command{}
	for _, s := range stmts {
		c := &grammar.Command{Syntax: s.Syntax, Help: s.Help, Hidden: s.Hidden, Data: s}
		g.cmdOf[s] = c
		byMode[s.Mode] = append(byMode[s.Mode], c)
	}
	for _, s := range stmts {
		if s.No != "" {
			byMode[s.Mode] = append(byMode[s.Mode], &grammar.Command{Syntax: "no " + s.No, Help: s.Help, Hidden: s.Hidden, Data: Negation{s}})
		}
	}
	for m, cmds := range extra {
		byMode[m] = append(byMode[m], cmds...)
	}
	for _, m := range Modes {
		set, err := grammar.Compile(byMode[m], commonHelp)
		if err != nil {
			return nil, fmt.Errorf("mode %s: %w", m, err)
		}
		g.sets[m] = set
	}
	return g, nil
}

// Set returns the compiled grammar of a mode.
func (g *Grammar) Set(m Mode) *grammar.Set { return g.sets[m] }

// Statements returns all statements in rendering order.
func (g *Grammar) Statements() []*Statement { return g.stmts }

func itoa(n int) string { return strconv.Itoa(n) }

func args(kv ...string) grammar.Args {
	a := make(grammar.Args, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, grammar.Arg{Name: kv[i], Value: kv[i+1]})
	}
	return a
}
