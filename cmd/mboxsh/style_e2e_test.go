package main

import (
	"strings"
	"testing"
)

// TestStyledTablesOnTerminal: on a terminal, table headers are bold (a fixed
// SGR attribute); with TERM=dumb, and through pipes, there is no escape
// sequence at all.
func TestStyledTablesOnTerminal(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	tt := b.startTTY(nil)
	tt.expect("remote>")
	tt.line("enable", "remote#")
	out := tt.line("show commit history", "remote#")
	if !strings.Contains(out, "\x1b[1mRollback  Commit") {
		t.Errorf("no bold header on a terminal:\n%q", out)
	}
	dumb := b.startTTY([]string{"TERM=dumb"})
	dumb.expect("remote>")
	dumb.line("enable", "remote#")
	if out := dumb.line("show commit history", "remote#"); strings.Contains(out, "\x1b") {
		t.Errorf("escape sequence with TERM=dumb:\n%q", out)
	}
	if r := b.ok("", "-c", "show commit history"); !strings.HasPrefix(r.stdout, "Rollback  Commit") {
		t.Errorf("piped output:\n%q", r.stdout)
	}
}
