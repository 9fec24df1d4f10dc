package config

import (
	"fmt"
	"strings"

	"mboxsh/config/grammar"
)

// modeDoc titles each mode in the reference.
var modeDoc = map[Mode]struct{ title, intro string }{
	ModeConfig: {"Global configuration (`HOST(config)#`)",
		"Top-level statements. Blocks (`interface`, `ipsec …`, `router ospf`) open a sub-mode; " +
			"a top-level statement typed inside a block closes the block."},
	ModeInterface: {"Interface (`HOST(config-if-NAME)#`)",
		"Entered with `interface NAME`, `interface vlan PORT VID` or `interface bridge brN`."},
	ModeIKEPolicy: {"IKE policy (`HOST(config-ike-policy)#`)", "Entered with `ipsec ike-policy N`."},
	ModeESPPolicy: {"ESP policy (`HOST(config-esp-policy)#`)", "Entered with `ipsec esp-policy N`."},
	ModePeer:      {"IPsec peer (`HOST(config-ipsec-peer)#`)", "Entered with `ipsec peer ADDRESS|NAME`."},
	ModeOSPF:      {"OSPF (`HOST(config-router)#`)", "Entered with `router ospf`."},
}

// Markdown generates the reference of every configuration statement,
// grouped by mode in declaration order: its syntax, the help of each of its
// keywords and values, and its `no` form. Hidden statements (old spellings)
// are left out. The output depends only on the declarations.
func (g *Grammar) Markdown() string {
	var b strings.Builder
	b.WriteString("## Configuration statements\n\n")
	b.WriteString("These are the lines of the running configuration (`show running-config`) and of " +
		"configuration files, and what may be typed in each configuration mode. " +
		"In a file, sub-statements are indented (any indentation), `!` closes a block and " +
		"`!text` is a comment; a block may also be written on one line " +
		"(`ipsec ike-policy 10 authentication psk policy AES SHA 14`). " +
		"Values with blanks are written in double quotes, in which `\\\"` and `\\\\` stand for " +
		"a quote and a backslash.\n\n")
	for _, m := range Modes {
		doc := modeDoc[m]
		if doc.title == "" {
			doc.title = string(m)
		}
		fmt.Fprintf(&b, "### %s\n\n", doc.title)
		if doc.intro != "" {
			fmt.Fprintf(&b, "%s\n\n", doc.intro)
		}
		for _, s := range g.stmts {
			if s.Mode != m || s.Hidden {
				continue
			}
			g.writeStatement(&b, s)
		}
	}
	return b.String()
}

func (g *Grammar) writeStatement(b *strings.Builder, s *Statement) {
	toks := g.command(s).Tokens()
	fmt.Fprintf(b, "#### `%s`\n\n", s.Syntax)
	if d := statementSummary(s, toks); d != "" {
		fmt.Fprintf(b, "%s.\n\n", strings.TrimSuffix(d, "."))
	}
	for _, t := range toks {
		fmt.Fprintf(b, "- `%s`: %s\n", t.Word, t.Help)
	}
	b.WriteString("\n")
	if s.Enter != "" {
		fmt.Fprintf(b, "Opens the %s block.", modeName(s.Enter))
		b.WriteString(" ")
	}
	if s.No != "" {
		fmt.Fprintf(b, "Negated by `no %s`.\n\n", s.No)
	} else {
		b.WriteString("Cannot be negated.\n\n")
	}
}

// statementSummary is the help of the statement's last name word (the
// "route" of "ip route"), else of its first token.
func statementSummary(s *Statement, toks []grammar.HelpItem) string {
	words := strings.Fields(s.Name)
	for i := len(words) - 1; i >= 0; i-- {
		for _, t := range toks {
			if t.Word == words[i] {
				return t.Help
			}
		}
	}
	if len(toks) > 0 {
		return toks[0].Help
	}
	return ""
}

func modeName(m Mode) string {
	switch m {
	case ModeInterface:
		return "interface"
	case ModeIKEPolicy:
		return "IKE policy"
	case ModeESPPolicy:
		return "ESP policy"
	case ModePeer:
		return "IPsec peer"
	case ModeOSPF:
		return "OSPF"
	}
	return string(m)
}
