package config

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mboxsh/config/grammar"
)

// Pos is a place in a configuration source.
type Pos struct {
	File string
	Line int // 1-based
	Col  int // 1-based
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Source remembers where each statement of a parsed configuration came
// from, so that validation can point at it.
type Source struct {
	pos map[string]Pos
	// rules holds the positions of the rules of each chain in file order
	// (apart from pos: a large file is mostly rules, and a list is far
	// cheaper than a map entry per rule).
	rules [4][]ruleAt
	// unsorted[ch] is set when rules[ch] is not in ascending order.
	unsorted [4]bool
}

type ruleAt struct {
	num int
	pos Pos
}

// Lookup returns the position of a statement path ("interface tun0",
// "interface tun0|mtu", "firewall-access 10"), falling back to its block.
func (s *Source) Lookup(path string) (Pos, bool) {
	if s == nil {
		return Pos{}, false
	}
	if kw, n, ok := strings.Cut(path, " "); ok {
		if ch, ok := chainOf(kw); ok {
			num, err := strconv.Atoi(n)
			if err != nil {
				return Pos{}, false
			}
			return s.rulePos(ch, num)
		}
	}
	if p, ok := s.pos[path]; ok {
		return p, true
	}
	if blk, _, ok := strings.Cut(path, "|"); ok {
		p, ok := s.pos[blk]
		return p, ok
	}
	return Pos{}, false
}

func (s *Source) rulePos(ch Chain, num int) (Pos, bool) {
	rs := s.rules[ch]
	if s.unsorted[ch] {
		// the latest definition is the one in force
		for k := len(rs) - 1; k >= 0; k-- {
			if rs[k].num == num {
				return rs[k].pos, true
			}
		}
		return Pos{}, false
	}
	i := sort.Search(len(rs), func(k int) bool { return rs[k].num >= num })
	if i < len(rs) && rs[i].num == num {
		return rs[i].pos, true
	}
	return Pos{}, false
}

func (s *Source) recordRule(ch Chain, num int, p Pos) {
	rs := s.rules[ch]
	if n := len(rs); n > 0 && rs[n-1].num >= num {
		s.unsorted[ch] = true
	}
	s.rules[ch] = append(rs, ruleAt{num, p})
}

// chainOf returns the chain whose statement keyword is kw.
func chainOf(kw string) (Chain, bool) {
	switch kw {
	case "firewall-input":
		return ChainInput, true
	case "firewall-access":
		return ChainAccess, true
	case "firewall-snat":
		return ChainSNAT, true
	case "firewall-dnat":
		return ChainDNAT, true
	}
	return 0, false
}

func (s *Source) record(path string, p Pos) {
	if s.pos == nil {
		s.pos = map[string]Pos{}
	}
	if _, dup := s.pos[path]; !dup {
		s.pos[path] = p
	}
}

// SyntaxError is a line that does not parse or cannot be applied.
type SyntaxError struct {
	Pos  Pos
	Line string // the offending source line
	Err  error  // *grammar.Error, *UserError or *grammar.TokenizeError
}

func (e *SyntaxError) Error() string {
	msg := e.Err.Error()
	if ue, ok := e.Err.(*UserError); ok {
		msg = ue.Msg
	}
	return fmt.Sprintf("%s: %s", e.Pos, strings.TrimPrefix(strings.TrimPrefix(msg, "% "), "%"))
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Editor applies statements to a configuration, keeping the current mode
// and block as a shell session or a file parser walks through the lines.
type Editor struct {
	G    *Grammar
	Mode Mode
	Ctx  Ctx
	// Src, when set, records where statements came from.
	Src  *Source
	Pos  Pos
	path string // current block path, for Src
	// uniqueRules (set when a file is parsed) makes a rule number that is
	// already defined an error, where a session would replace the rule.
	uniqueRules bool
	match       grammar.Match // scratch space for applyIn
	// CopyOnWrite, when set, is called before the first statement that
	// changes the configuration, which the editor must then not change:
	// it returns the configuration to change instead (a copy), and is
	// cleared. It is only valid at the top level, where the editor points
	// at nothing inside the configuration.
	CopyOnWrite func() *Config
}

// dupRuleError is a rule number defined twice in one file.
type dupRuleError struct {
	key   string
	first Pos
	col   int // 1-based column of the rule number
}

func (e *dupRuleError) Error() string {
	if e.first.Line == 0 {
		return fmt.Sprintf("%% duplicate rule number: %s is already defined", e.key)
	}
	return fmt.Sprintf("%% duplicate rule number: %s is already defined at line %d", e.key, e.first.Line)
}

// NewEditor starts editing cfg at the top level.
func NewEditor(g *Grammar, cfg *Config) *Editor {
	return &Editor{G: g, Mode: ModeConfig, Ctx: Ctx{Cfg: cfg}}
}

// Reset returns to the top level (after `!`, `end` or a replaced config).
func (e *Editor) Reset(cfg *Config) {
	e.Mode, e.Ctx, e.path = ModeConfig, Ctx{Cfg: cfg}, ""
}

// Exit leaves the current block.
func (e *Editor) Exit() {
	e.Reset(e.Ctx.Cfg)
}

// BlockName describes the current block for prompts: "tun0", "203.0.113.2".
func (e *Editor) BlockName() string {
	switch e.Mode {
	case ModeInterface:
		return e.Ctx.Iface.Name
	case ModePeer:
		return e.Ctx.Peer.Name
	case ModeIKEPolicy:
		return itoa(e.Ctx.IKE.Number)
	case ModeESPPolicy:
		return itoa(e.Ctx.ESP.Number)
	}
	return ""
}

// Apply applies one line, already split into tokens, in the current mode.
// Like IOS, a line that is not a statement of the current block is tried in
// the enclosing mode (which closes the block). A block header followed by
// statements on the same line (the one-line form) opens the block and
// applies them. The returned error is a *grammar.Error (syntax) or a
// *UserError (well-formed but not applicable); on error the mode is
// unchanged. When the line matches one of the caller's extra commands (see
// NewGrammar), nothing is applied and the match is returned.
func (e *Editor) Apply(toks []grammar.Token) (*grammar.Match, error) {
	var firstErr error
	for m := e.Mode; m != ""; m = m.Parent() {
		ext, err := e.applyIn(m, toks)
		if err == nil {
			return ext, nil
		}
		var ge *grammar.Error
		if !errors.As(err, &ge) {
			return nil, err // a statement matched but could not be applied
		}
		if firstErr == nil || furtherThan(err, firstErr) {
			firstErr = err
		}
	}
	return nil, firstErr
}

func furtherThan(a, b error) bool {
	var ga, gb *grammar.Error
	if !errors.As(a, &ga) || !errors.As(b, &gb) {
		return false
	}
	return ga.Token > gb.Token
}

func (e *Editor) applyIn(m Mode, toks []grammar.Token) (*grammar.Match, error) {
	set := e.G.sets[m]
	match := &e.match // reused line after line: statements copy what they keep
	err := set.MatchInto(toks, match)
	if err == nil {
		switch match.Cmd.Data.(type) {
		case *Statement, Negation:
			return nil, e.run(m, match, toks)
		}
		ext := *match
		ext.Args = slices.Clone(match.Args)
		return &ext, nil
	}
	// The one-line form: header, then the block's statements.
	hm, herr := set.MatchPrefix(toks, func(c *grammar.Command) bool {
		s, ok := c.Data.(*Statement)
		return ok && s.Enter != ""
	})
	if herr != nil || hm.End >= len(toks) {
		return nil, err
	}
	// Check the whole line before changing anything.
	sub := hm.Cmd.Data.(*Statement).Enter
	var parts []*grammar.Match
	for rest := hm.End; rest < len(toks); {
		sm, serr := e.G.sets[sub].MatchPrefix(toks[rest:], nil)
		if serr != nil {
			var ge *grammar.Error
			if errors.As(serr, &ge) {
				shifted := *ge
				shifted.Token += rest
				if shifted.Token < len(toks) {
					shifted.Col = toks[shifted.Token].Col
				}
				return nil, &shifted
			}
			return nil, serr
		}
		sm.End += rest
		parts = append(parts, sm)
		rest = sm.End
	}
	saved := *e
	if err := e.run(m, hm, toks); err != nil {
		return nil, err
	}
	start := hm.End
	for _, sm := range parts {
		switch sm.Cmd.Data.(type) {
		case *Statement, Negation:
		default: // an extra command has no place in a block's line
			*e = saved
			return nil, &grammar.Error{Kind: grammar.Invalid, Token: start, Col: toks[start].Col}
		}
		if err := e.run(sub, sm, toks[start:sm.End]); err != nil {
			*e = saved
			return nil, err
		}
		start = sm.End
	}
	return nil, nil
}

func (e *Editor) run(m Mode, match *grammar.Match, toks []grammar.Token) (err error) {
	// Leaving a block for its parent; a statement that fails leaves the
	// editor where it was.
	if m != e.Mode {
		mode, ctx, path := e.Mode, e.Ctx, e.path
		defer func() {
			if err != nil {
				e.Mode, e.Ctx, e.path = mode, ctx, path
			}
		}()
		e.Reset(e.Ctx.Cfg)
	}
	pos := e.Pos
	if len(toks) > 0 {
		pos.Col = toks[0].Col + 1
	}
	if e.CopyOnWrite != nil {
		if e.Mode != ModeConfig {
			return fmt.Errorf("internal: copy-on-write configuration edited inside a block")
		}
		e.Ctx = Ctx{Cfg: e.CopyOnWrite()}
		e.CopyOnWrite = nil
	}
	switch d := match.Cmd.Data.(type) {
	case *Statement:
		if d.Enter != "" {
			ctx := e.Ctx
			if err := d.Set(&ctx, match.Args); err != nil {
				return err
			}
			e.Ctx = ctx
			e.Mode = d.Enter
			e.path = strings.TrimSpace(match.Cmd.Format(match.Args))
			if e.Src != nil {
				e.Src.record(e.path, pos)
			}
			return nil
		}
		ch, rule := chainOf(d.Name)
		num := 0
		if rule {
			num = match.Args.Int("num")
			// In a file, a rule number given twice is a mistake, not an edit.
			if _, dup := ruleIndex(*e.Ctx.Cfg.Rules(ch), num); e.uniqueRules && dup {
				key := d.Name + " " + itoa(num)
				first, _ := e.Src.Lookup(key)
				col := pos.Col
				if len(toks) > 1 {
					col = toks[1].Col + 1
				}
				return &dupRuleError{key: key, first: first, col: col}
			}
		}
		// A plain statement changes the objects ctx points at, never ctx
		// itself, so it gets e.Ctx (a copy would escape to the heap).
		if err := d.Set(&e.Ctx, match.Args); err != nil {
			return err
		}
		switch {
		case e.Src == nil:
		case rule:
			e.Src.recordRule(ch, num, pos)
		case e.path != "":
			e.Src.record(e.path+"|"+d.Name, pos)
		default:
			e.Src.record(d.Name, pos)
		}
	case Negation:
		ctx := e.Ctx
		if err := d.Stmt.Unset(&ctx, match.Args); err != nil {
			return err
		}
	default:
		return fmt.Errorf("internal: unknown command payload %T", d)
	}
	return nil
}

// Parse reads a configuration in the running-config format: block form
// (any indentation, `!` and `!comment` lines, blank lines) or the one-line
// form. name is used in error positions.
func Parse(src []byte, name string) (*Config, error) {
	cfg, _, err := ParseWithSource(src, name)
	return cfg, err
}

// ParseWithSource is Parse that also returns statement positions.
func ParseWithSource(src []byte, name string) (*Config, *Source, error) {
	cfg := &Config{}
	presize(cfg, src)
	s := &Source{}
	ed := NewEditor(DefaultGrammar(), cfg)
	ed.Src = s
	ed.Pos.File = name
	ed.uniqueRules = true
	text := string(src)
	var toks []grammar.Token
	for ln := 1; text != ""; ln++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t\r") // what Tokenize takes for blanks
		if trimmed == "" {
			continue
		}
		if trimmed[0] == '!' {
			ed.Reset(cfg)
			continue
		}
		ed.Pos.Line = ln
		var err error
		toks, err = grammar.AppendTokens(toks[:0], line)
		if err != nil {
			var te *grammar.TokenizeError
			errors.As(err, &te)
			return nil, nil, &SyntaxError{Pos: Pos{name, ln, te.Col + 1}, Line: line, Err: err}
		}
		if len(toks) == 0 {
			continue // blanks only
		}
		ext, err := ed.Apply(toks)
		if err == nil && ext != nil {
			err = &grammar.Error{Kind: grammar.Invalid}
		}
		if err != nil {
			col := 1 // a statement that cannot be applied: where it starts
			if len(toks) > 0 {
				col = toks[0].Col + 1
			}
			var ge *grammar.Error
			var dup *dupRuleError
			if errors.As(err, &dup) {
				col = dup.col
			} else if errors.As(err, &ge) {
				col = ge.Col + 1
				if ge.Kind == grammar.Incomplete {
					col = len(strings.TrimRight(line, " \t")) + 1
				}
			}
			return nil, nil, &SyntaxError{Pos: Pos{name, ln, col}, Line: line, Err: err}
		}
	}
	return cfg, s, nil
}

// presize gives the rule chains of cfg room for the rules src appears to
// hold (lines starting with their keyword), so that a large file does not
// copy them over and over as they grow.
func presize(cfg *Config, src []byte) {
	for _, ch := range []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT} {
		kw := []byte("\n" + ch.Keyword() + " ")
		if n := bytes.Count(src, kw); n > 64 {
			*cfg.Rules(ch) = make([]Rule, 0, n+1)
		}
	}
}

// Render prints a configuration in the canonical running-config form.
func Render(cfg *Config) string {
	return DefaultGrammar().Render(cfg)
}

// Render prints a configuration in the canonical running-config form: `!`,
// hostname, `!`, then each block closed by `!` and each family of one-line
// statements followed by one `!`, in declaration order.
func (g *Grammar) Render(cfg *Config) string {
	rules := len(cfg.FirewallInput) + len(cfg.FirewallAccess) + len(cfg.FirewallSNAT) + len(cfg.FirewallDNAT)
	lines := 8 + len(cfg.Routes) + 6*(len(cfg.IKEPolicies)+len(cfg.ESPPolicies)) + 10*len(cfg.Peers)
	for _, i := range cfg.Interfaces {
		lines += 6 + len(i.Addresses)
	}
	if cfg.OSPF != nil {
		lines += 6 + len(cfg.OSPF.Networks) + len(cfg.OSPF.PassiveInterfaces)
	}
	// Each line is formatted in a scratch buffer and copied into the
	// builder, whose String returns the text without copying it all once
	// more; a rule line is about 100 bytes, most others far shorter.
	b := &render{line: make([]byte, 0, 256)}
	b.Grow(40*lines + 100*rules)
	b.WriteString("!\n")
	ctx := &Ctx{Cfg: cfg}
	for _, s := range g.stmts {
		if s.Mode != ModeConfig || s.Get == nil {
			continue
		}
		cmd := g.command(s)
		if s.Enter == "" {
			b.stmt, b.cmd = s, cmd
			ctx.each = b
			for _, a := range s.Get(ctx) {
				b.oneLine(a)
			}
			ctx.each = nil
			continue
		}
		for _, a := range s.Get(ctx) {
			b.closeGroup()
			b.writeLine(cmd, "", a)
			sub := *ctx
			if err := s.Set(&sub, a); err != nil {
				panic(fmt.Sprintf("render %s: %v", s.Name, err))
			}
			g.renderBlock(b, s.Enter, &sub)
			b.WriteString("!\n")
		}
	}
	b.closeGroup()
	return b.String()
}

// render is the text being rendered.
type render struct {
	strings.Builder
	line  []byte           // scratch
	group string           // the group of the one-line statements last written
	stmt  *Statement       // the one-line statement being written
	cmd   *grammar.Command // its command
}

// oneLine writes an instance of the one-line statement b.stmt, after a `!`
// if it starts a group.
func (b *render) oneLine(a grammar.Args) {
	if b.group != b.stmt.Group {
		b.closeGroup()
		b.group = b.stmt.Group
	}
	b.writeLine(b.cmd, "", a)
}

// closeGroup ends the group of one-line statements being written, if any.
func (b *render) closeGroup() {
	if b.group != "" {
		b.WriteString("!\n")
		b.group = ""
	}
}

// writeLine writes indent, the statement cmd with arguments a, and a
// newline.
func (b *render) writeLine(cmd *grammar.Command, indent string, a grammar.Args) {
	b.line = append(b.line[:0], indent...)
	b.line = append(cmd.AppendFormat(b.line, a), '\n')
	b.Write(b.line)
}

func (g *Grammar) renderBlock(b *render, m Mode, ctx *Ctx) {
	for _, s := range g.stmts {
		if s.Mode != m || s.Get == nil {
			continue
		}
		cmd := g.command(s)
		for _, a := range s.Get(ctx) {
			b.writeLine(cmd, " ", a)
		}
	}
}

func (g *Grammar) command(s *Statement) *grammar.Command {
	c, ok := g.cmdOf[s]
	if !ok {
		panic("statement not compiled: " + s.Name)
	}
	return c
}

func (g *Grammar) format(s *Statement, a grammar.Args) string { return g.command(s).Format(a) }
