package commands

import (
	"fmt"
	"strings"

	"mboxsh/config"
	"mboxsh/config/grammar"
	"mboxsh/shell"
	"mboxsh/shell/modes"
)

// Markdown generates docs/commands.md: every shell command and every
// configuration statement, from their declarations.
func Markdown(cmds []*shell.Command) string {
	var b strings.Builder
	b.WriteString("# mboxsh command reference\n\n")
	b.WriteString("Generated from the command and statement declarations " +
		"(`go test ./shell/commands -run TestDocs -update`); do not edit by hand.\n\n")
	b.WriteString("Keywords may be abbreviated to any unique prefix (`conf t`, `sh run`). " +
		"`?` lists what may follow, Tab completes. Values in `<…>`; `[…]` is optional; " +
		"`(a|b)` is a choice; `{a|b}` are options in any order.\n\n")
	b.WriteString("Every `show` command accepts output filters: `| include RE`, `| exclude RE`, " +
		"`| begin RE`, `| section RE`, `| count`, `| json`.\n\n")
	sections := []struct {
		title string
		level modes.Level
	}{
		{"User exec (`HOST>`)", modes.User},
		{"Privileged exec (`HOST#`)", modes.Privileged},
		{"Every configuration mode (`HOST(config…)#`)", modes.Configure},
	}
	for _, sec := range sections {
		var gcs []*grammar.Command
		for _, c := range cmds {
			if c.Hidden || !hasLevel(c, sec.level) {
				continue
			}
			gcs = append(gcs, &grammar.Command{Syntax: c.Syntax, Help: c.Help})
		}
		set := grammar.MustCompile(gcs, nil)
		fmt.Fprintf(&b, "## %s\n\n", sec.title)
		for _, c := range set.Commands() {
			writeCommand(&b, c)
		}
	}
	b.WriteString(config.DefaultGrammar().Markdown())
	return b.String()
}

func hasLevel(c *shell.Command, l modes.Level) bool {
	for _, x := range c.Levels {
		if x == l {
			return true
		}
	}
	return false
}

func writeCommand(b *strings.Builder, c *grammar.Command) {
	toks := c.Tokens()
	// The summary is the help of the last keyword before any value or
	// option: "interface" for `show interface [IFNAME]`.
	lead := ""
	for _, w := range strings.Fields(c.Syntax) {
		if strings.ContainsAny(w, "<[({") {
			break
		}
		lead = w
	}
	head := ""
	for _, t := range toks {
		if t.Word == lead {
			head = t.Help
		}
	}
	fmt.Fprintf(b, "### `%s`\n\n%s\n\n", c.Syntax, head)
	for _, t := range toks[1:] {
		fmt.Fprintf(b, "- `%s`: %s\n", t.Word, t.Help)
	}
	if len(toks) > 1 {
		b.WriteString("\n")
	}
}
