package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Keys as a terminal sends them.
const (
	keyUp    = "\x1b[A"
	keyLeft  = "\x1b[D"
	keyRight = "\x1b[C"
	keyCtrlU = "\x15"
	keyCtrlZ = "\x1a"
	keyCtrlC = "\x03"
	keyCtrlL = "\x0c"
	keyTab   = "\t"
	keyBS    = "\x7f"
)

const leaveQuestion = "Uncommitted changes found, commit them before exiting (yes/no/cancel)? [cancel]: "

// TestPTYModesAndPrompts walks every mode and checks the IOS prompts, the
// `*` for uncommitted changes, `exit` one level up and `end` to exec.
func TestPTYModesAndPrompts(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("enable", "mbox#")
	if seg := tt.line("conf t", "mbox(config)#"); !strings.Contains(seg, "conf t\r\nEnter configuration commands, one per line.  End with CNTL/Z.\r\n") {
		t.Errorf("conf t: want the IOS banner:\n%q", seg)
	}
	tt.line("int tun0", "mbox(config-if-tun0)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("ipsec peer 1.2.3.4", "mbox(config-ipsec-peer)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("ipsec ike-policy 10", "mbox(config-ike-policy)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("ipsec esp-policy 10", "mbox(config-esp-policy)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("router ospf", "mbox(config-router)*#")
	// A line of the parent mode runs there (as IOS does) and leaves the
	// submode.
	tt.line("interface eth0", "mbox(config-if-eth0)*#")
	tt.line("abort", "mbox#")
	// Nothing changed: no `*`, no question on the way out.
	tt.line("configure terminal", "mbox(config)#")
	tt.line("end", "mbox#")
	tt.line("configure", "mbox(config)#")
	tt.line("exit", "mbox#")
	tt.line("disable", "mbox>")
	tt.line("exit", "")
	if code := tt.exit(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestPTYLeavingConfig: `end`, `exit` and Ctrl-Z ask about uncommitted
// changes; yes commits, no discards, cancel (the default) stays.
func TestPTYLeavingConfig(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("enable", "mbox#")
	tt.line("configure terminal", "mbox(config)#")
	tt.line("interface eth1", "mbox(config-if-eth1)*#")
	// Ctrl-Z, then Enter: cancel.
	tt.send(keyCtrlZ)
	tt.expect("^Z\r\n" + leaveQuestion)
	tt.line("", "mbox(config-if-eth1)*#")
	// end, yes: committed.
	tt.line("end", leaveQuestion)
	seg := tt.line("yes", "mbox#")
	if !strings.Contains(seg, "Commit complete") {
		t.Errorf("yes did not commit:\n%q", seg)
	}
	// Ctrl-Z with a typed line runs the line, then leaves.
	tt.line("configure terminal", "mbox(config)#")
	tt.send("hostname gone" + keyCtrlZ)
	tt.expect("hostname gone^Z\r\n" + leaveQuestion)
	tt.line("no", "mbox#")
	// Re-entering an existing block changes nothing: no question.
	tt.line("configure terminal", "mbox(config)#")
	tt.line("interface eth1", "mbox(config-if-eth1)#")
	tt.send(keyCtrlZ)
	tt.expect("^Z\r\nmbox#")
	// exit from the top of config mode asks too.
	tt.line("configure terminal", "mbox(config)#")
	tt.line("hostname gone", "mbox(config)*#")
	tt.line("exit", leaveQuestion)
	tt.line("n", "mbox#")
	// do: exec commands from config mode; only the commit is visible.
	tt.line("configure terminal", "mbox(config)#")
	tt.line("hostname gone", "mbox(config)*#")
	seg = tt.line("do show running-config", "mbox(config)*#")
	if !strings.Contains(seg, "interface eth1\r\n") || strings.Contains(seg, "hostname gone\r\n") {
		t.Errorf("do show running-config from config mode:\n%q", seg)
	}
	seg = tt.line("do sh conf diff", "mbox(config)*#")
	if !strings.Contains(seg, "+ hostname gone\r\n") {
		t.Errorf("do sh conf diff:\n%q", seg)
	}
	tt.line("abort", "mbox#")
	if got := b.running(); !strings.Contains(got, "interface eth1\n") || strings.Contains(got, "gone") {
		t.Errorf("running-config:\n%s", got)
	}
}

// TestPTYHelp: `?` alone, `word?` and `word ?`, each keeping the typed line.
func TestPTYHelp(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("enable", "mbox#")
	// `?` alone lists the commands of the mode with their help.
	tt.send("?")
	seg := tt.expect("\r\nmbox#")
	for _, want := range []string{"?\r\n", "  configure ", "Enter configuration mode", "  show ", "  write "} {
		if !strings.Contains(seg, want) {
			t.Errorf("`?` lacks %q:\n%q", want, seg)
		}
	}
	// `sh?` lists the keywords starting with sh, and the line stays.
	tt.send("sh?")
	seg = tt.expect("mbox#sh")
	if !strings.Contains(seg, "sh?\r\nshow\r\n") {
		t.Errorf("`sh?`:\n%q", seg)
	}
	// `show ?` lists what follows; typing goes on after it.
	tt.send("ow ?")
	seg = tt.expect("mbox#show ")
	for _, want := range []string{"  running-config ", "Current operating configuration", "  commit "} {
		if !strings.Contains(seg, want) {
			t.Errorf("`show ?` lacks %q:\n%q", want, seg)
		}
	}
	tt.send("running-config ?")
	seg = tt.expect("mbox#show running-config ")
	if !strings.Contains(seg, "  |     Output modifiers\r\n  <cr>\r\n") {
		t.Errorf("`show running-config ?`: want the output modifiers, then <cr>:\n%q", seg)
	}
	if !strings.Contains(seg, "  <cr>") || !strings.Contains(seg, "  |") {
		t.Errorf("`show running-config ?`: want <cr> and the output modifiers:\n%q", seg)
	}
	tt.send("| ?")
	seg = tt.expect("mbox#show running-config | ")
	for _, want := range []string{"  begin ", "  count ", "  exclude ", "  include ", "  json ", "  section "} {
		if !strings.Contains(seg, want) {
			t.Errorf("`| ?` lacks %q:\n%q", want, seg)
		}
	}
	// The line typed around the help runs as one command.
	tt.send("count\r")
	seg = tt.expect("mbox#")
	if !strings.Contains(seg, "Number of lines which match regexp = ") {
		t.Errorf("the line kept through `?` did not run as typed:\n%q", seg)
	}
	// In a config submode, `?` after a value shows <cr>.
	tt.line("configure terminal", "mbox(config)#")
	tt.line("interface tun0", "mbox(config-if-tun0)*#")
	tt.send("ip address 10.0.0.1/24 ?")
	seg = tt.expect("mbox(config-if-tun0)*#ip address 10.0.0.1/24 ")
	if !strings.Contains(seg, "  <cr>") {
		t.Errorf("`ip address A/N ?`:\n%q", seg)
	}
	tt.send("\r")
	tt.expect("mbox(config-if-tun0)*#")
	tt.send("mt?")
	seg = tt.expect("mbox(config-if-tun0)*#mt")
	if !strings.Contains(seg, "\r\nmtu\r\n") {
		t.Errorf("`mt?`:\n%q", seg)
	}
	tt.send(keyCtrlU + "?")
	seg = tt.expect("mbox(config-if-tun0)*#")
	for _, want := range []string{"  mtu ", "  ip ", "  exit ", "  end "} {
		if !strings.Contains(seg, want) {
			t.Errorf("`?` in interface mode lacks %q:\n%q", want, seg)
		}
	}
	// `?` after a mistake: the caret under it, the line kept.
	tt.send("ip adress ?")
	seg = tt.expect("mbox(config-if-tun0)*#ip adress ")
	if rows := strings.Split(seg, "\r\n"); len(rows) < 3 || strings.Index(rows[1], "^") != len("mbox(config-if-tun0)*#ip ") ||
		!strings.HasPrefix(rows[2], "% Invalid input detected at '^' marker.") {
		t.Errorf("`ip adress ?`: want a caret under adress:\n%q", seg)
	}
	tt.send(keyCtrlU)
	// A `?` inside quotes is text.
	tt.line(`description "what?"`, "mbox(config-if-tun0)*#")
	tt.line("abort", "mbox#")
}

// TestPTYTabCompletion completes keywords and live values.
func TestPTYTabCompletion(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.send("en" + keyTab)
	tt.expect("enable ")
	tt.send("\r")
	tt.expect("mbox#")
	tt.send("conf" + keyTab + "t" + keyTab)
	tt.expect("configure terminal ")
	tt.send("\r")
	tt.expect("mbox(config)#")
	tt.line("interface tun0", "mbox(config-if-tun0)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("firewall-access 10 permit outbound eth0", "mbox(config)*#")
	tt.line("firewall-access 20 permit outbound tun0", "mbox(config)*#")
	// An interface name from the candidate.
	tt.send("interface t" + keyTab)
	tt.expect("interface tun0 ")
	tt.send(keyCtrlU)
	// Rule numbers: two candidates, listed below the line, line redrawn.
	tt.send("no firewall-access " + keyTab)
	seg := tt.expect("mbox(config)*#no firewall-access ")
	if !strings.Contains(seg, "10  20") {
		t.Errorf("no firewall-access <Tab>: want the rule numbers:\n%q", seg)
	}
	tt.send("2" + keyTab)
	tt.expect("20 ")
	tt.send("\r")
	tt.expect("mbox(config)*#")
	seg = tt.line("do show configuration | include firewall-access", "mbox(config)*#")
	if !strings.Contains(seg, "firewall-access 10 ") || strings.Contains(seg, "firewall-access 20 ") {
		t.Errorf("completed `no` line did not remove rule 20:\n%q", seg)
	}
	// do: exec keywords.
	tt.send("do sh" + keyTab)
	tt.expect("do show ")
	tt.send(keyCtrlU)
	tt.line("abort", "mbox#")
}

// TestPTYErrors: abbreviations, IOS error texts and the caret under the
// offending character (prompt width included).
func TestPTYErrors(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("en", "mbox#")
	checkCaret(t, tt, "mbox#", "show runnning-config", "runnning-config")
	checkCaret(t, tt, "mbox#", "sh run | frob", "frob")
	tt.line("conf t", "mbox(config)#")
	seg := tt.line("e", "mbox(config)#")
	if !strings.Contains(seg, "e\r\n% Ambiguous command:  \"e\"\r\n") {
		t.Errorf("ambiguous:\n%q", seg)
	}
	tt.line("int tun0", "mbox(config-if-tun0)*#")
	seg = tt.line("ip", "mbox(config-if-tun0)*#")
	if !strings.Contains(seg, "ip\r\n% Incomplete command.\r\n") {
		t.Errorf("incomplete:\n%q", seg)
	}
	checkCaret(t, tt, "mbox(config-if-tun0)*#", "mtu 99999", "99999")
	checkCaret(t, tt, "mbox(config-if-tun0)*#", "ip address 10.0.0.300/24", "10.0.0.300/24")
	// Never a DNS lookup of an unknown word (IOS's `Translating "pnig"`).
	start := time.Now()
	seg = tt.line("pnig", "mbox(config-if-tun0)*#")
	if strings.Contains(seg, "Translating") || time.Since(start) > timeout()/2 {
		t.Errorf("unknown word:\n%q", seg)
	}
	tt.line("abort", "mbox#")
	// A caret after a long prompt.
	b.ok("configure\nhostname a-rather-long-hostname-for-the-prompt\ncommit\nend\n")
	tt.line("exit", "")
	tt.exit()
	tt = b.startTTY(nil)
	tt.expect("a-rather-long-hostname-for-the-prompt>")
	tt.line("enable", "a-rather-long-hostname-for-the-prompt#")
	tt.line("configure", "a-rather-long-hostname-for-the-prompt(config)#")
	checkCaret(t, tt, "a-rather-long-hostname-for-the-prompt(config)#", "ip default-gateway 10.1.2", "10.1.2")
}

// checkCaret types line at prompt (already shown, at the start of a row)
// and checks that the caret is under the first character of bad.
func checkCaret(t *testing.T, tt *tty, prompt, line, bad string) {
	t.Helper()
	tt.send(line + "\r")
	seg := tt.expect("\r\n" + prompt)
	rows := strings.Split(seg, "\r\n")
	if len(rows) < 3 || rows[0] != line {
		t.Errorf("%q: want the echo, the caret and the message, got\n%q", line, seg)
		return
	}
	want := len(prompt) + strings.Index(line, bad)
	if got := strings.Index(rows[1], "^"); got != want || strings.TrimSpace(rows[1]) != "^" {
		t.Errorf("%q: caret at column %d, want %d (under %q):\n%s%s\n%s", line, got, want, bad, prompt, line, rows[1])
	}
	if !strings.HasPrefix(rows[2], "% Invalid input detected at '^' marker.") {
		t.Errorf("%q: message %q", line, rows[2])
	}
}

// TestPTYPager: `terminal length N` pages long output with --More--;
// Space shows the next page, q quits silently.
func TestPTYPager(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	cfg := strings.Split(readTestdata(t, "remote.cfg"), "\n")
	tt := b.startTTY(nil)
	tt.expect("remote>")
	tt.line("enable", "remote#")
	tt.line("terminal length 5", "remote#")
	tt.send("show running-config\r")
	seg := tt.expect(" --More-- ")
	want := "show running-config\r\n" + strings.Join(cfg[:4], "\r\n") + "\r\n --More-- "
	if !strings.HasSuffix(seg, want) {
		t.Errorf("first page:\n got %q\nwant …%q", seg, want)
	}
	tt.send(" ")
	seg = tt.expect(" --More-- ")
	if want := strings.Join(cfg[4:8], "\r\n") + "\r\n --More-- "; !strings.HasSuffix(seg, want) {
		t.Errorf("second page:\n got %q\nwant …%q", seg, want)
	}
	tt.send("\r")
	seg = tt.expect(" --More-- ")
	if want := cfg[8] + "\r\n --More-- "; !strings.HasSuffix(seg, want) {
		t.Errorf("Enter: one more line:\n got %q\nwant …%q", seg, want)
	}
	tt.send("q")
	seg = tt.expect("remote#")
	if strings.Contains(seg, "%") || strings.Contains(seg, cfg[9]) {
		t.Errorf("after q: want no more output and no message:\n%q", seg)
	}
	// Short output: no --More--.
	if seg := tt.line("show version", "remote#"); strings.Contains(seg, "More") {
		t.Errorf("short output paged:\n%q", seg)
	}
	// Filters apply before paging: 6 lines over two pages.
	tt.send("show running-config | include ^interface\r")
	tt.expect(" --More-- ")
	tt.send(" ")
	seg = tt.expect("remote#")
	if strings.Contains(seg, "More") || !strings.Contains(seg, "interface vlan 1 20\r\n") {
		t.Errorf("filtered second page:\n%q", seg)
	}
	tt.line("terminal length 0", "remote#")
	seg = tt.line("show running-config", "remote#")
	if strings.Contains(seg, "More") || !strings.Contains(seg, "ipsec start\r\n") {
		t.Errorf("terminal length 0 still pages:\n%q", seg)
	}
}

// TestPTYHistory: Up recalls earlier lines, across sessions; the history
// file is private and never holds a pre-shared key.
func TestPTYHistory(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("enable", "mbox#")
	tt.line("show version", "mbox#")
	tt.send(keyUp)
	tt.expect("show version")
	tt.send(keyUp)
	tt.expect("enable")
	tt.send(keyCtrlU)
	tt.line("configure terminal", "mbox(config)#")
	tt.line("ipsec peer 1.2.3.4", "mbox(config-ipsec-peer)*#")
	tt.line("psk Letmein99", "mbox(config-ipsec-peer)*#")
	tt.line("ps Another99", "mbox(config-ipsec-peer)*#")
	tt.line(`psk "With Blanks99"`, "mbox(config-ipsec-peer)*#")
	tt.line("exit", "mbox(config)*#")
	tt.line("ipsec peer 5.6.7.8 local 1.1.1.1 psk Oneline99 policy ike 1 esp 1", "mbox(config-ipsec-peer)*#")
	tt.line("abort", "mbox#")
	tt.line("exit", "")
	tt.exit()

	var hist string
	err := filepath.WalkDir(b.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "history") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
		}
		text, err := os.ReadFile(path)
		hist += string(text)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hist, "show version") {
		t.Fatalf("no history file with the session's lines in %s:\n%s", b.dir, hist)
	}
	for _, secret := range []string{"Letmein99", "Another99", "Blanks99", "Oneline99"} {
		if strings.Contains(hist, secret) {
			t.Errorf("history holds the PSK %q:\n%s", secret, hist)
		}
	}
	if !strings.Contains(hist, "psk ") {
		t.Errorf("the psk lines are missing altogether (want them redacted):\n%s", hist)
	}

	// A new session recalls the previous session's lines.
	tt = b.startTTY(nil)
	tt.expect("mbox>")
	tt.send(keyUp)
	tt.expect("exit")
	tt.send(keyUp)
	tt.expect("abort")
	tt.send(keyCtrlU + "exit\r")
	tt.exit()
}

// TestPTYDumbTerminal: with TERM=dumb, not one escape sequence, whatever
// the user does.
func TestPTYDumbTerminal(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	tt := b.startTTY([]string{"TERM=dumb"})
	tt.expect("remote>")
	tt.line("enable", "remote#")
	tt.send("?")
	tt.expect("remote#")
	tt.send("sh ru" + keyTab)
	tt.expect("sh running-config ")
	// versoin → version: back over "in", delete "o", over "i", type "o".
	tt.send(keyCtrlU + "show versoin" + keyLeft + keyLeft + keyBS + keyRight + "o" + keyCtrlL + "\r")
	// Ctrl-L redraws the prompt and the line on a new row.
	tt.expect("remote#show version")
	tt.expect("Version")
	tt.expect("remote#")
	tt.line("show bogus", "remote#")
	tt.line("terminal length 10", "remote#")
	tt.send("show running-config\r")
	tt.expect(" --More-- ")
	tt.send("q")
	tt.expect("remote#")
	tt.line("configure terminal", "remote(config)#")
	tt.line("hostname dumb", "remote(config)*#")
	tt.send(keyCtrlZ)
	tt.expect(leaveQuestion)
	tt.line("no", "remote#")
	tt.send(keyUp + keyUp + keyCtrlC)
	tt.expect("remote#")
	tt.line("exit", "")
	tt.exit()
	if out := tt.transcript(); strings.ContainsRune(out, 0x1b) {
		t.Errorf("TERM=dumb: escape sequence written:\n%q", out)
	}
}

// TestPTYPasteRunningConfig: a `show running-config` printout pasted into
// configure re-enters every block (lines of the parent mode run there).
func TestPTYPasteRunningConfig(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	want := readTestdata(t, "hq.cfg")
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.line("enable", "mbox#")
	tt.line("configure terminal", "mbox(config)#")
	tt.send(strings.ReplaceAll(want, "\n", "\r"))
	tt.send("commit\r")
	tt.expect("Commit complete")
	tt.line("end", "hq#")
	tt.line("exit", "")
	tt.exit()
	if got := b.running(); got != want {
		t.Errorf("pasted configuration:\n%s\ntranscript:\n%s", lineDiff(want, got), tt.transcript())
	}
}

// TestPTYCtrlCAndEOF: Ctrl-C drops the line; Ctrl-D at exec exits 0.
func TestPTYCtrlCAndEOF(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	tt.send("enable" + keyCtrlC)
	tt.expect("^C\r\nmbox>")
	tt.send("\x04")
	if code := tt.exit(); code != 0 {
		t.Errorf("Ctrl-D: exit status %d", code)
	}
}

// TestPTYSignals: Ctrl-C, Ctrl-\ and Ctrl-Z typed while a command runs
// reach the shell as signals (the terminal is not in raw mode then); they
// must neither kill nor stop it.
func TestPTYSignals(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	tt := b.startTTY(nil)
	tt.expect("mbox>")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP} {
		tt.signal(sig)
		if seg := tt.line("show version", "mbox>"); !strings.Contains(seg, "Version") {
			t.Errorf("after %v: %q", sig, seg)
		}
	}
	tt.line("exit", "")
	if code := tt.exit(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
