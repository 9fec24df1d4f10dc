package config

import (
	"strings"
	"testing"
)

func TestMarkdown(t *testing.T) {
	g := DefaultGrammar()
	md := g.Markdown()
	if md != g.Markdown() {
		t.Fatal("Markdown is not deterministic")
	}
	if fresh, err := NewGrammar(statements(), nil); err != nil || fresh.Markdown() != md {
		t.Fatalf("Markdown depends on more than the declarations (%v)", err)
	}
	if !strings.HasPrefix(md, "## Configuration statements\n") {
		t.Errorf("unexpected start: %q", md[:40])
	}
	// every mode has a section, in order
	last := -1
	for _, m := range Modes {
		i := strings.Index(md, "\n### "+modeDoc[m].title+"\n")
		if i < 0 {
			t.Errorf("no section for mode %s", m)
			continue
		}
		if i < last {
			t.Errorf("section %s out of order", m)
		}
		last = i
	}
	// every visible statement, with the help of each of its tokens and its
	// no form; hidden ones are left out
	for _, s := range g.Statements() {
		head := "#### `" + s.Syntax + "`\n"
		if s.Hidden {
			if strings.Contains(md, head) {
				t.Errorf("hidden statement %q is documented", s.Name)
			}
			continue
		}
		i := strings.Index(md, head)
		if i < 0 {
			t.Errorf("statement %s %q is not documented", s.Mode, s.Name)
			continue
		}
		entry := md[i+len(head):]
		if j := strings.Index(entry, "\n####"); j >= 0 {
			entry = entry[:j]
		}
		for _, tok := range g.command(s).Tokens() {
			if tok.Help == "" {
				t.Errorf("%s: token %s has no help", s.Name, tok.Word)
			}
			if !strings.Contains(entry, "- `"+tok.Word+"`: "+tok.Help+"\n") {
				t.Errorf("%s: token %s is not documented", s.Name, tok.Word)
			}
		}
		if s.No != "" && !strings.Contains(entry, "`no "+s.No+"`") {
			t.Errorf("%s: no form not documented", s.Name)
		}
		if s.Enter != "" && !strings.Contains(entry, "Opens the "+modeName(s.Enter)+" block") {
			t.Errorf("%s: does not say which block it opens", s.Name)
		}
	}
	for _, hidden := range []string{"#### `route ", "#### `shutdown`"} {
		if strings.Contains(md, hidden) {
			t.Errorf("%q documented", hidden)
		}
	}
	if strings.Contains(md, "\n\n\n") {
		t.Error("blank lines doubled")
	}
}
