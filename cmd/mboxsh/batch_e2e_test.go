package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// configureScript is the operator's pipe of issue 3:
// (echo configure; cat FILE; echo commit; echo end; echo 'show running-config').
func configureScript(cfg string) string {
	return "configure\n" + cfg + "commit\nend\nshow running-config\n"
}

// TestBatchRoundTrip pipes the reference configurations, and the one-line
// form of every block, into mboxsh and gets them back byte for byte.
func TestBatchRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"remote.cfg", "remote.cfg"},
		{"hq.cfg", "hq.cfg"},
		{"remote-oneline.cfg", "remote.cfg"},
		{"hq-oneline.cfg", "hq.cfg"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			b := newBox(t)
			want := readTestdata(t, tc.want)
			r := b.ok(configureScript(readTestdata(t, tc.in)))
			if r.stdout != want {
				t.Errorf("show running-config after piping %s differs from %s:\n%s", tc.in, tc.want, lineDiff(want, r.stdout))
			}
			// Commit messages go to stderr, so stdout is only what was asked for.
			if !strings.Contains(r.stderr, "Commit complete") {
				t.Errorf("no commit summary on stderr:\n%s", r)
			}
			// A new process reads the same running configuration back.
			if got := b.running(); got != want {
				t.Errorf("running-config in a new process:\n%s", lineDiff(want, got))
			}
		})
	}
}

// TestBatchInputForms: -f FILE, stdin and -c run the same lines the same way.
func TestBatchInputForms(t *testing.T) {
	t.Parallel()
	want := readTestdata(t, "remote.cfg")
	script := configureScript(want)
	dir := t.TempDir()
	file := filepath.Join(dir, "script")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := newBox(t).ok("", "-f", file); r.stdout != want {
		t.Errorf("-f FILE:\n%s", lineDiff(want, r.stdout))
	}
	if r := newBox(t).ok(script); r.stdout != want {
		t.Errorf("stdin:\n%s", lineDiff(want, r.stdout))
	}
	var args []string
	for _, l := range strings.Split(strings.TrimSuffix(script, "\n"), "\n") {
		args = append(args, "-c", l)
	}
	if r := newBox(t).ok("", args...); r.stdout != want {
		t.Errorf("-c (repeated %d times):\n%s", len(args)/2, lineDiff(want, r.stdout))
	}
}

// errorScript fails on line 4; lines 5 and 6 must not run.
const errorScript = "configure\nhostname changed\ninterface eth0\n mtu 99999\ncommit\nend\nshow running-config\n"

// TestBatchErrorReport: the first error is `FILE:LINE: % message` with the
// line and a caret, the batch stops, the candidate is discarded, the exit
// status is non-zero and the running configuration is unchanged.
func TestBatchErrorReport(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(file, []byte(errorScript), 0o600); err != nil {
		t.Fatal(err)
	}
	var cArgs []string
	for _, l := range strings.Split(strings.TrimSuffix(errorScript, "\n"), "\n") {
		cArgs = append(cArgs, "-c", l)
	}
	for _, tc := range []struct {
		name, stdin, prefix string
		args                []string
	}{
		{"file", "", file + ":4: ", []string{"-f", file}},
		{"stdin", errorScript, "-:4: ", nil},
		{"args", "", "-c:4: ", cArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBox(t)
			b.load("remote.cfg")
			before := b.running()
			r := b.run(tc.stdin, tc.args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit status:\n%s", r)
			}
			lines := strings.Split(r.stderr, "\n")
			want := tc.prefix + "% Invalid input detected at '^' marker."
			if !strings.HasPrefix(lines[0], want) {
				t.Errorf("first line of stderr:\n got %q\nwant %q…", lines[0], want)
			}
			// The offending line, then the caret under "99999".
			if len(lines) < 3 || lines[1] != "   mtu 99999" || strings.Index(lines[2], "^") != strings.Index(lines[1], "99999") {
				t.Errorf("want the line and a caret under 99999:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "Commit complete") || r.stdout != "" {
				t.Errorf("lines after the error ran:\n%s", r)
			}
			if !strings.Contains(r.stderr, "Uncommitted changes discarded") {
				t.Errorf("want the candidate reported as discarded:\n%s", r)
			}
			if after := b.running(); after != before {
				t.Errorf("running-config changed by a failed batch:\n%s", lineDiff(before, after))
			}
		})
	}
}

// TestBatchKeepGoing reports every error and runs the lines in between.
func TestBatchKeepGoing(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	r := b.run("show bogus\nshow version\nterminal length 1000\nshow commit history | include x | frobnicate\n", "--keep-going")
	if r.code == 0 {
		t.Fatalf("want a non-zero exit status:\n%s", r)
	}
	for _, want := range []string{"-:1: % Invalid input", "-:3: % Invalid input", "-:4: % Invalid input"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "mboxsh") {
		t.Errorf("line 2 (show version) did not run:\n%s", r)
	}
	// Without --keep-going only the first error is reported.
	r = b.run("show bogus\nshow version\nshow bogus\n")
	if r.code == 0 || strings.Count(r.stderr, "% Invalid input") != 1 || r.stdout != "" {
		t.Errorf("without --keep-going, want one error and nothing run after it:\n%s", r)
	}
}

// TestBatchLeavingConfigWithChanges: batch never silently drops or
// commits a candidate.
func TestBatchLeavingConfigWithChanges(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	before := b.running()
	for _, script := range []string{
		"configure\nhostname x\nend\n",
		"configure\nhostname x\nexit\n",
		"configure\nhostname x\n\x1a\n", // not Ctrl-Z in batch: an invalid line
		"configure\nhostname x\n",       // end of input
	} {
		r := b.run(script)
		if r.code == 0 {
			t.Errorf("%q: want failure:\n%s", script, r)
		}
		if !strings.Contains(r.stderr, "ncommitted changes") {
			t.Errorf("%q: want an uncommitted-changes message:\n%s", script, r)
		}
		if got := b.running(); got != before {
			t.Errorf("%q changed the running-config", script)
		}
	}
	// With commit or abort, leaving is fine.
	b.ok("configure\nhostname x\nabort\n")
	b.ok("configure\nhostname x\ncommit\nend\n")
	if !strings.Contains(b.running(), "hostname x\n") {
		t.Error("commit did not take")
	}
}

// TestConfigureReplace commits a whole file in one step, and a bad file
// changes nothing.
func TestConfigureReplace(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	want := readTestdata(t, "hq.cfg")
	r := b.ok("", "-c", "configure replace "+testdata(t, "hq.cfg"), "-c", "show running-config")
	if r.stdout != want {
		t.Errorf("after configure replace:\n%s", lineDiff(want, r.stdout))
	}
	hist := b.ok("", "-c", "show commit history").stdout
	if !regexp.MustCompile(`(?m)^0 .*configure replace .*hq\.cfg$`).MatchString(hist) {
		t.Errorf("commit history lacks the replace:\n%s", hist)
	}
	bad := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(bad, []byte("hostname ok\ninterface eth0\n mtu 99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = b.run("", "-c", "configure replace "+bad)
	if r.code == 0 || !strings.Contains(r.stderr, "-c:1: %") {
		t.Errorf("configure replace of a bad file: want -c:1 error:\n%s", r)
	}
	if got := b.running(); got != want {
		t.Errorf("a failed configure replace changed the running-config:\n%s", lineDiff(want, got))
	}
	r = b.run("", "-c", "configure replace "+filepath.Join(t.TempDir(), "missing.cfg"))
	if r.code == 0 {
		t.Errorf("configure replace of a missing file succeeded:\n%s", r)
	}
}

// TestLoadMergeReplace loads files into the candidate in config mode.
func TestLoadMergeReplace(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	extra := filepath.Join(t.TempDir(), "extra.cfg")
	if err := os.WriteFile(extra, []byte("firewall-access 20 permit outbound eth1\n!\ninterface eth2\n description spare\n!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := b.ok("configure\nload merge " + extra + "\ndo show configuration diff\ncommit\nend\n")
	for _, want := range []string{"[edit]\n+ firewall-access 20 permit outbound eth1\n", "[edit interface eth2]\n+ description spare\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff after load merge lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "\n"); n != 4 {
		t.Errorf("diff after load merge: want 4 lines, got %d:\n%s", n, r.stdout)
	}
	run := b.running()
	for _, want := range []string{"firewall-access 20 permit outbound eth1\n", "interface eth2\n description spare\n", "hostname remote\n"} {
		if !strings.Contains(run, want) {
			t.Errorf("merged running-config lacks %q:\n%s", want, run)
		}
	}
	b.ok("configure\nload replace " + testdata(t, "hq.cfg") + "\ncommit\nend\n")
	if got, want := b.running(), readTestdata(t, "hq.cfg"); got != want {
		t.Errorf("after load replace:\n%s", lineDiff(want, got))
	}
	// A file with an error loads nothing.
	bad := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(bad, []byte("hostname merged\nbogus line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = b.run("configure\nload merge " + bad + "\n")
	if r.code == 0 || !strings.Contains(r.stderr, "-:2: %") {
		t.Errorf("load merge of a bad file: want an error on line 2:\n%s", r)
	}
	r = b.run("configure\nload merge "+bad+"\ndo show configuration diff\nabort\n", "--keep-going")
	if r.code == 0 || r.stdout != "" || strings.Count(r.stderr, "% ") != 1 {
		t.Errorf("a failed load merge changed the candidate:\n%s", r)
	}
}

// TestCommitCheck validates without committing.
func TestCommitCheck(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	before := b.running()
	hist := b.ok("", "-c", "show commit history").stdout
	r := b.run("configure\nipsec peer 198.51.100.2\n policy ike 20 esp 10\ncommit check\n")
	if r.code == 0 {
		t.Fatalf("commit check of a peer naming a missing ike-policy succeeded:\n%s", r)
	}
	if !strings.Contains(r.stderr, "ike-policy 20 does not exist") || !strings.Contains(r.stderr, "-:4: % Commit aborted") {
		t.Errorf("want the semantic error and -:4:\n%s", r)
	}
	// A plain commit is refused the same way.
	if r := b.run("configure\nipsec peer 198.51.100.2\n policy ike 20 esp 10\ncommit\n"); r.code == 0 {
		t.Errorf("commit of an invalid candidate succeeded:\n%s", r)
	}
	r = b.ok("configure\nhostname checked\ncommit check\nabort\n")
	if !strings.Contains(r.stderr, "Configuration check succeeds") {
		t.Errorf("commit check of a valid candidate:\n%s", r)
	}
	if got := b.running(); got != before {
		t.Errorf("commit check changed the running-config:\n%s", lineDiff(before, got))
	}
	if got := b.ok("", "-c", "show commit history").stdout; got != hist {
		t.Errorf("commit check added to the commit history:\n%s", got)
	}
}

// TestShowConfigurationDiff is Junos `show | compare`.
func TestShowConfigurationDiff(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	r := b.ok("configure\nhostname r2\nno firewall-access 11\ninterface eth2\n description \"x y\"\n" +
		"do show configuration diff\ndo show configuration diff | json\ndo show configuration | include ^hostname\nabort\nshow configuration diff\n")
	want := "[edit]\n- firewall-access 11 permit outbound tun0 src 192.168.20.0/24\n- hostname remote\n+ hostname r2\n[edit interface eth2]\n+ description \"x y\"\n"
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("show configuration diff:\n got %q\nwant %q", r.stdout, want)
	}
	rest := strings.TrimPrefix(r.stdout, want)
	i := strings.Index(rest, "hostname r2\n")
	if i < 0 {
		t.Fatalf("show configuration (the candidate) lacks the new hostname:\n%s", rest)
	}
	var changes []map[string]any
	if err := json.Unmarshal([]byte(rest[:i]), &changes); err != nil || len(changes) != 3 {
		t.Errorf("show configuration diff | json: %v, %d changes:\n%s", err, len(changes), rest[:i])
	}
	if tail := rest[i+len("hostname r2\n"):]; tail != "" {
		t.Errorf("after abort, want an empty diff, got %q", tail)
	}
}

// TestOutputFilters runs every `| filter` on show commands.
func TestOutputFilters(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	cfg := readTestdata(t, "remote.cfg")
	show := func(cmd string) string {
		t.Helper()
		return b.ok("", "-c", cmd).stdout
	}
	if got, want := show("show running-config | include ^interface"),
		"interface eth0\ninterface eth1\ninterface eth2\ninterface eth3\ninterface tun0\ninterface vlan 1 20\n"; got != want {
		t.Errorf("| include:\n got %q\nwant %q", got, want)
	}
	// Abbreviated filter, quoted regexp with blanks and a `|` inside.
	if got := show(`sh run | ex "^ |^!"`); strings.Count(got, "\n") != 18 || strings.Contains(got, "\n ") || strings.Contains(got, "!") {
		t.Errorf("| exclude: want the 18 top-level lines:\n%s", got)
	}
	if got := show("show running-config | begin ^ipsec peer"); got != cfg[strings.Index(cfg, "ipsec peer"):] {
		t.Errorf("| begin:\n%s", got)
	}
	if got, want := show("show running-config | section tun0"),
		"interface tun0\n tunnel local 203.0.113.2 remote 198.51.100.2\n enable\n mtu 1400\n ip address 172.16.0.2/30\n"+
			"firewall-access 11 permit outbound tun0 src 192.168.20.0/24\nfirewall-access 12 permit inbound tun0 dst 192.168.20.0/24\n"; got != want {
		t.Errorf("| section:\n got %q\nwant %q", got, want)
	}
	if got, want := show("show running-config | count"), "Number of lines which match regexp = 56\n"; got != want {
		t.Errorf("| count: got %q want %q", got, want)
	}
	if got, want := show("show running-config | include tun0 | count"), "Number of lines which match regexp = 3\n"; got != want {
		t.Errorf("chained filters: got %q want %q", got, want)
	}
	for _, cmd := range []string{"show running-config | json", "show startup-config | json", "show commit history | json",
		"show version | json", "show configuration | json", "show configuration diff | json"} {
		if cmd == "show startup-config | json" {
			b.ok("", "-c", "write memory")
		}
		out := show(cmd)
		if !json.Valid([]byte(out)) {
			t.Errorf("%s: not valid JSON:\n%s", cmd, out)
		}
	}
	var run struct{ Hostname string }
	if err := json.Unmarshal([]byte(show("show running-config | json")), &run); err != nil || run.Hostname != "remote" {
		t.Errorf("show running-config | json: %v, hostname %q", err, run.Hostname)
	}
	for cmd, want := range map[string]string{
		"show running-config | frobnicate x": "% Invalid input detected at '^' marker.",
		"show running-config | include":      "% Incomplete command.",
		"show running-config | include (":    "% Invalid regular expression",
	} {
		r := b.run("", "-c", cmd)
		if r.code == 0 || !strings.HasPrefix(r.stderr, "-c:1: "+want) {
			t.Errorf("%s: want -c:1: %s…, got\n%s", cmd, want, r)
		}
	}
}

// TestShowCommitHistory lists commits newest first with their rollback
// numbers, users and comments.
func TestShowCommitHistory(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.ok("configure\nhostname one\ncommit comment first\nend\n")
	b.ok("configure\nhostname two\ncommit comment \"second one\"\nend\n")
	b.ok("configure\nhostname three\ncommit\nend\n")
	hist := b.ok("", "-c", "show commit history").stdout
	lines := strings.Split(strings.TrimSuffix(hist, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Rollback") {
		t.Fatalf("want a header and 3 commits:\n%s", hist)
	}
	for i, want := range []string{`^0 +3 .* root *$`, `^1 +2 .* root +second one$`, `^2 +1 .* root +first$`} {
		if !regexp.MustCompile(want).MatchString(lines[i+1]) {
			t.Errorf("row %d: %q does not match %s", i, lines[i+1], want)
		}
	}
	var rows []struct {
		Rollback int
		Comment  string
	}
	if err := json.Unmarshal([]byte(b.ok("", "-c", "show commit history | json").stdout), &rows); err != nil || len(rows) != 3 || rows[2].Comment != "first" {
		t.Errorf("show commit history | json: %v %+v", err, rows)
	}
}

// lineDiff shows two texts line by line where they differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		mark := "  "
		if wl != gl || i >= len(w) || i >= len(g) {
			mark = "!="
		}
		b.WriteString(mark + " want " + quoteLine(wl, i < len(w)) + "  got " + quoteLine(gl, i < len(g)) + "\n")
	}
	return b.String()
}

func quoteLine(s string, present bool) string {
	if !present {
		return "(none)"
	}
	return `"` + s + `"`
}
