package shell_test

// In-process tests of the session: help, completion, filters, the dirty
// marker, PSK redaction. The real binary is driven in cmd/mboxsh.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/internal/linediff"
	"mboxsh/persist"
	"mboxsh/shell"
	"mboxsh/shell/commands"
	"mboxsh/shell/modes"
)

const remoteCfg = "../cmd/mboxsh/testdata/remote.cfg"

// newSession is an offline batch session whose running config is file
// ("" for none), in a fresh state directory.
func newSession(t *testing.T, file string) (*shell.Session, *bytes.Buffer) {
	t.Helper()
	store, err := persist.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if file != "" {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.WriteRunning(text); err != nil {
			t.Fatal(err)
		}
	}
	var errs bytes.Buffer
	s, err := shell.New(shell.Options{
		Store: store, Out: &bytes.Buffer{}, Err: &errs,
		Commands:         append(commands.All(), commands.Show(nil)...),
		SystemInterfaces: func() []string { return []string{"lo", "eth0", "tap7"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &errs
}

// exec runs lines and returns the output of the last one.
func exec(t *testing.T, s *shell.Session, lines ...string) string {
	t.Helper()
	var out bytes.Buffer
	for _, l := range lines {
		out.Reset()
		if err := s.Exec(l, &out); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	return out.String()
}

func lineError(t *testing.T, err error) *shell.LineError {
	t.Helper()
	var le *shell.LineError
	if !errors.As(err, &le) {
		t.Fatalf("want a *LineError, got %T %v", err, err)
	}
	return le
}

func TestSessionGrammarCompiles(t *testing.T) {
	s, _ := newSession(t, "")
	if s.Grammar() == nil {
		t.Fatal("no grammar")
	}
	for _, m := range config.Modes {
		if s.Grammar().Set(m) == nil {
			t.Errorf("mode %v has no grammar", m)
		}
	}
}

func TestHelpForms(t *testing.T) {
	s, _ := newSession(t, remoteCfg)
	help := func(line string) string {
		t.Helper()
		text, err := s.Help(line)
		if err != nil {
			t.Fatalf("Help(%q): %v", line, err)
		}
		return text
	}
	if got := help("sh"); got != "show\n" {
		t.Errorf("`sh?` = %q", got)
	}
	if got := help("co"); got != "configure  copy\n" {
		t.Errorf("`co?` = %q", got)
	}
	got := help("show running-config ")
	if got != "  |     Output modifiers\n  <cr>\n" {
		t.Errorf("`show running-config ?` = %q", got)
	}
	got = help("show running-config | ")
	for _, w := range []string{"begin", "count", "exclude", "include", "json", "section"} {
		if !strings.Contains(got, "  "+w+" ") {
			t.Errorf("`| ?` lacks %s:\n%s", w, got)
		}
	}
	if got := help("show running-config | in"); got != "include\n" {
		t.Errorf("`| in?` = %q", got)
	}
	if got := help("show running-config | include "); !strings.Contains(got, "LINE") || strings.Contains(got, "<cr>") {
		t.Errorf("`| include ?` = %q", got)
	}
	if got := help("show running-config | include ip route "); !strings.Contains(got, "<cr>") || !strings.Contains(got, "|") {
		t.Errorf("`| include RE ?` = %q", got)
	}
	if got := help("show running-config | count "); !strings.Contains(got, "LINE") || !strings.Contains(got, "<cr>") {
		t.Errorf("`| count ?` = %q", got)
	}
	if got := help("show running-config | json "); got != "  |     Output modifiers\n  <cr>\n" {
		t.Errorf("`| json ?` = %q", got)
	}
	// Not a show command: no modifiers.
	if got := help("write memory "); got != "  <cr>\n" {
		t.Errorf("`write memory ?` = %q", got)
	}
	// Errors point at the offending word.
	_, err := s.Help("show runnning-config ")
	if le := lineError(t, err); le.Col != 5 {
		t.Errorf("Help error column %d, want 5", le.Col)
	}
	_, err = s.Help("write memory | ")
	if le := lineError(t, err); le.Col != 13 {
		t.Errorf("`write memory | ?`: column %d, want 13 (no modifiers)", le.Col)
	}
	exec(t, s, "configure", "interface tun0")
	got = help("")
	if !strings.Contains(got, "  mtu ") || !strings.Contains(got, "  do ") {
		t.Errorf("`?` in interface mode:\n%s", got)
	}
	// do: exec help from config mode, with modifiers.
	if got := help("do show running-config "); !strings.Contains(got, "|") {
		t.Errorf("`do show running-config ?` = %q", got)
	}
}

func TestCompleteLiveValues(t *testing.T) {
	s, _ := newSession(t, remoteCfg)
	exec(t, s, "configure", "ipsec esp-policy 20", "exit")
	cases := []struct {
		line, want string
		cands      []string
	}{
		{"interface t", "interface t", []string{"tap7", "tun0"}},
		{"interface tu", "interface tun0 ", nil},
		{"int vl", "int vlan ", nil},
		{"no firewall-access ", "no firewall-access 1", []string{"10", "11", "12"}},
		{"no firewall-snat ", "no firewall-snat ", []string{"10", "8"}},
		{"ipsec peer ", "ipsec peer 198.51.100.2 ", nil},
		{"ipsec ike-policy ", "ipsec ike-policy 10 ", nil},
		{"ipsec esp-policy ", "ipsec esp-policy ", []string{"10", "20"}},
		{"no ipsec esp-policy 2", "no ipsec esp-policy 20 ", nil},
		{"no ipsec ike-policy ", "no ipsec ike-policy 10 ", nil},
		{"do sh", "do show ", nil},
		{"do show running-config | s", "do show running-config | section ", nil},
		{"do show running-config | include fo", "do show running-config | include fo", nil},
	}
	for _, c := range cases {
		got, cands := s.Complete(c.line)
		slices.Sort(cands)
		if got != c.want || !slices.Equal(cands, c.cands) {
			t.Errorf("Complete(%q) = %q %q, want %q %q", c.line, got, cands, c.want, c.cands)
		}
	}
}

func TestFilters(t *testing.T) {
	s, _ := newSession(t, remoteCfg)
	for line, want := range map[string]string{
		"show running-config | include ip route":          "ip route 192.168.10.0/24 nexthop 172.16.0.1\n",
		`show running-config | include "ip route"`:        "ip route 192.168.10.0/24 nexthop 172.16.0.1\n",
		"show running-config | include psk|hostname":      "hostname remote\n authentication psk\n psk Letmein99\n",
		"show running-config | section ike | include key": " keylife 28800\n",
		"show running-config | begin ipsec start":         "ipsec start\n!\n",
		"show running-config | exclude . | count":         "Number of lines which match regexp = 0\n",
	} {
		if got := exec(t, s, line); got != want {
			t.Errorf("%s:\n got %q\nwant %q", line, got, want)
		}
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(exec(t, s, "show running-config | json")), &v); err != nil || v["hostname"] != "remote" {
		t.Errorf("show running-config | json: %v %v", err, v["hostname"])
	}
	cfg, err := os.ReadFile(remoteCfg)
	if err != nil {
		t.Fatal(err)
	}
	indented := strings.Count(string(cfg), "\n ")
	if got, want := exec(t, s, `show running-config | count "^ "`), "Number of lines which match regexp = "+strconv.Itoa(indented)+"\n"; got != want {
		t.Errorf("| count RE: got %q want %q", got, want)
	}
	err = s.Exec("show running-config | count | json", &bytes.Buffer{})
	if err == nil {
		t.Errorf("| count | json: want an error (count has no structured output)")
	}
	err = s.Exec("show running-config | count x y | include (", &bytes.Buffer{})
	if le := lineError(t, err); le.Col != len("show running-config | count x y | include ") {
		t.Errorf("bad regexp: caret column %d", le.Col)
	}
}

// TestDirtyOnlyWhenChanged: the `*` and the questions on leaving appear
// only when the candidate differs from the running configuration.
func TestDirtyOnlyWhenChanged(t *testing.T) {
	s, _ := newSession(t, remoteCfg)
	exec(t, s, "configure", "interface eth0", "exit", "ipsec peer 198.51.100.2", "router ospf")
	if !s.Dirty {
		t.Errorf("new router ospf block: want dirty")
	}
	exec(t, s, "abort", "configure", "interface eth0", "ipsec peer 198.51.100.2", "hostname remote", "do show version")
	if s.Dirty {
		t.Errorf("entering existing blocks: want clean")
	}
	if p := s.Prompt(); p != "remote(config)#" {
		t.Errorf("prompt %q", p)
	}
	exec(t, s, "end")
	if s.Level != modes.Privileged {
		t.Errorf("end from a clean session: level %v", s.Level)
	}
	exec(t, s, "configure", "interface eth0", "mtu 1400")
	if !s.Dirty || s.Prompt() != "remote(config-if-eth0)*#" {
		t.Errorf("after mtu: dirty %v, prompt %q", s.Dirty, s.Prompt())
	}
	// Still dirty after going back: stays so until commit or abort.
	exec(t, s, "no mtu")
	if !s.Dirty {
		t.Errorf("dirty was reset by an edit")
	}
	if err := s.Exec("end", &bytes.Buffer{}); err == nil {
		t.Errorf("batch end with changes: want an error")
	}
}

func TestDoCaretColumn(t *testing.T) {
	s, _ := newSession(t, "")
	exec(t, s, "configure")
	err := s.Exec("do show bogus", &bytes.Buffer{})
	if le := lineError(t, err); le.Col != len("do show ") {
		t.Errorf("`do show bogus`: caret column %d, want %d", le.Col, len("do show "))
	}
	err = s.Exec("do", &bytes.Buffer{})
	if le := lineError(t, err); le.Msg != "% Incomplete command." {
		t.Errorf("`do`: %q", le.Msg)
	}
	if out := exec(t, s, `do show running-config | include "^hostname|^!"`); out != "!\n" {
		t.Errorf("do with a filter: %q", out)
	}
}

func TestRedactPSK(t *testing.T) {
	for in, want := range map[string]string{
		"psk Letmein99":                          "psk <removed>",
		" psk   Letmein99  ":                     " psk   <removed>",
		"PSK Letmein99":                          "PSK <removed>",
		"ps Letmein99":                           "ps <removed>",
		`psk "let me in"`:                        "psk <removed>",
		`psk "let me in`:                         "psk <removed>",
		"no psk":                                 "no psk",
		"authentication psk":                     "authentication psk",
		"ipsec ike-policy 10 auth psk version 2": "ipsec ike-policy 10 auth psk version 2",
		"ipsec peer 1.2.3.4 psk S3cret policy ike 1 esp 1": "ipsec peer 1.2.3.4 psk <removed> policy ike 1 esp 1",
		`description "psk in text"`:                        `description "psk in text"`,
		"p Letmein99":                                      "p Letmein99",
	} {
		if got := shell.RedactPSK(in); got != want {
			t.Errorf("RedactPSK(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfirmUnit: `commit confirmed N` counts ConfirmUnit (a minute by
// default) per N.
func TestConfirmUnit(t *testing.T) {
	dir := t.TempDir()
	store, err := persist.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var msgs bytes.Buffer
	s, err := shell.New(shell.Options{Store: store, Out: &msgs, Err: &msgs, Commands: commands.All()})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, s, "configure", "hostname x", "commit confirmed 3")
	p, err := store.Pending()
	if err != nil || p == nil {
		t.Fatalf("pending: %v %v", p, err)
	}
	if left := time.Until(p.Deadline); left < 170*time.Second || left > 180*time.Second {
		t.Errorf("commit confirmed 3: deadline in %v, want 3m", left)
	}
	if !strings.Contains(msgs.String(), "returns in 3 minute(s)") {
		t.Errorf("message: %s", msgs.String())
	}
}

// TestCandidateCopyOnWrite: after a commit or an abort the candidate shares
// the running configuration until the first change, which must never reach
// the running configuration itself.
func TestCandidateCopyOnWrite(t *testing.T) {
	s, _ := newSession(t, remoteCfg)
	run0 := exec(t, s, "show running-config")
	for _, reset := range []string{"commit", "abort"} {
		exec(t, s, "configure", "hostname first", reset)
		if reset == "abort" {
			exec(t, s, "configure")
		}
		if reset == "commit" {
			run0 = exec(t, s, "do show running-config")
			if !strings.Contains(run0, "hostname first") {
				t.Fatalf("commit lost: %s", run0)
			}
		}
		// A block statement, a sub-statement, a rule and a negation.
		exec(t, s, "interface tun0", "mtu 1300", "exit", "firewall-access 999 permit all eth0", "no hostname")
		if got := exec(t, s, "do show running-config"); got != run0 {
			t.Fatalf("after %s, editing the candidate changed the running config:\n%s", reset, linediff.Diff(run0, got))
		}
		cand := exec(t, s, "do show configuration")
		for _, want := range []string{"mtu 1300", "firewall-access 999"} {
			if !strings.Contains(cand, want) {
				t.Fatalf("after %s, candidate lacks %q:\n%s", reset, want, cand)
			}
		}
		exec(t, s, "abort") // discards and leaves configuration mode
		if got := exec(t, s, "show configuration"); got != run0 {
			t.Fatalf("abort did not restore the candidate:\n%s", linediff.Diff(run0, got))
		}
	}
}
