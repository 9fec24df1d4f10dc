package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mboxsh/persist"
	"mboxsh/shell"
)

// TestRollbackAcrossRestarts: every commit is archived in the state
// directory; `rollback N` in a later process loads commit N back.
func TestRollbackAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	b.ok("configure\nhostname one\ncommit comment first\nend\n")
	b.ok("configure\nhostname two\ncommit comment \"second change\"\nend\n")
	hist := b.ok("", "-c", "show commit history").stdout
	for _, want := range []string{"second change", "first", "configure replace"} {
		if !strings.Contains(hist, want) {
			t.Errorf("commit history lacks %q:\n%s", want, hist)
		}
	}
	// rollback 1 = the commit before the last one.
	r := b.ok("configure\nrollback 1\ndo show configuration diff\ncommit comment back\nend\n")
	if !strings.Contains(r.stdout, "- hostname two\n+ hostname one\n") {
		t.Errorf("rollback 1: diff\n%s", r)
	}
	if got := b.running(); !strings.Contains(got, "hostname one\n") {
		t.Errorf("after rollback 1:\n%s", got)
	}
	// rollback 3 (counting the rollback's own commit) = configure replace.
	b.ok("configure\nrollback 3\ncommit\nend\n")
	if got, want := b.running(), readTestdata(t, "remote.cfg"); got != want {
		t.Errorf("after rollback 3:\n%s", lineDiff(want, got))
	}
	// rollback 0 is the running config: nothing to commit.
	r = b.ok("configure\nrollback 0\nend\n")
	if strings.Contains(r.stderr, "ncommitted") {
		t.Errorf("rollback 0 left changes:\n%s", r)
	}
	if r := b.run("configure\nrollback 40\n"); r.code == 0 {
		t.Errorf("rollback to a commit that does not exist succeeded:\n%s", r)
	}
}

// TestWriteMemoryAcrossRestarts: `write memory` saves the running config as
// startup-config; it survives a restart and later commits.
func TestWriteMemoryAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	r := b.run("", "-c", "show startup-config")
	if r.code == 0 || !strings.Contains(r.stderr, "No startup configuration") {
		t.Errorf("show startup-config before write memory:\n%s", r)
	}
	b.load("remote.cfg")
	if r := b.ok("", "-c", "write memory"); r.stdout != "[OK]\n" {
		t.Errorf("write memory printed %q", r.stdout)
	}
	b.ok("configure\nhostname later\ncommit\nend\n")
	want := readTestdata(t, "remote.cfg")
	if got := b.ok("", "-c", "show startup-config").stdout; got != want {
		t.Errorf("startup-config in a new process:\n%s", lineDiff(want, got))
	}
	b.ok("", "-c", "copy running-config startup-config")
	if got := b.ok("", "-c", "show startup-config").stdout; !strings.Contains(got, "hostname later\n") {
		t.Errorf("copy running-config startup-config:\n%s", got)
	}
	b.ok("", "-c", "wr")
}

// TestStateFileModes: the state directory is private: files 0600,
// directories 0700 (it holds pre-shared keys).
func TestStateFileModes(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.dir = filepath.Join(b.dir, "state")
	b.load("remote.cfg")
	b.ok("", "-c", "write memory")
	b.ok("configure\nhostname x\ncommit confirmed 5\ncommit\nend\n")
	tt := b.startTTY(nil)
	tt.expect("x>")
	tt.line("enable", "x#")
	tt.line("exit", "")
	tt.exit()
	waitWatchdogGone(t, b.dir)
	n := 0
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Errorf("only %d entries in the state directory", n)
	}
}

// TestNeedsRootOrOffline: an unprivileged user without --offline is told
// about --offline instead of failing on the first netlink call; with
// --offline everything works without root.
func TestNeedsRootOrOffline(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
			t.Skip("needs root (to switch to an unprivileged user)")
		}
		t.Fatal("this test switches to an unprivileged user and needs root (MBOXSH_ALLOW_SKIP=1 skips it)")
	}
	// t.TempDir's parent is private to root: nobody needs a path it may
	// walk, and directories of its own inside.
	dir, err := os.MkdirTemp("", "mboxsh-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	state, xdg := filepath.Join(dir, "state"), filepath.Join(dir, "xdg")
	for _, d := range []string{state, xdg} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	asNobody := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout())
		defer cancel()
		cmd := exec.CommandContext(ctx, mboxshBin, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "XDG_CONFIG_HOME=" + xdg, "TERM=xterm"}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("mboxsh as nobody: %v\n%s", err, out)
		}
		return string(out), 0
	}
	for _, args := range [][]string{
		{"--state-dir", state, "-c", "show version"},
		{"--state-dir", state},
		{"-c", "show running-config"},
	} {
		out, code := asNobody(args...)
		if code == 0 || !strings.Contains(out, "--offline") || !strings.Contains(out, "root") {
			t.Errorf("mboxsh %s as nobody: exit %d, want non-zero and a hint about --offline:\n%s", strings.Join(args, " "), code, out)
		}
	}
	out, code := asNobody("--offline", "--state-dir", state, "-c", "configure", "-c", "hostname nobodys", "-c", "commit", "-c", "end", "-c", "show running-config")
	if code != 0 || !strings.Contains(out, "hostname nobodys") {
		t.Errorf("--offline as nobody: exit %d\n%s", code, out)
	}
	// The default state directory of a user is $XDG_CONFIG_HOME/mboxsh.
	out, code = asNobody("--offline", "-c", "configure", "-c", "hostname xdg", "-c", "commit", "-c", "end")
	if code != 0 {
		t.Errorf("--offline as nobody with the default state directory: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(xdg, "mboxsh", "running-config")); err != nil {
		t.Errorf("default state directory of an unprivileged user: %v", err)
	}
}

// confirmEnv makes `commit confirmed N` last N seconds (test hook).
var confirmEnv = []string{"MBOXSH_CONFIRM_UNIT=1s"}

// TestCommitConfirmedRollsBack: the watchdog, a detached mboxsh, restores
// the previous configuration at the deadline although the shell that
// committed was killed.
func TestCommitConfirmedRollsBack(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.env = confirmEnv
	b.load("remote.cfg")
	before := b.runningFile()
	tt := b.startTTY(nil)
	tt.expect("remote>")
	tt.line("enable", "remote#")
	tt.line("configure terminal", "remote(config)#")
	tt.line("hostname unconfirmed", "remote(config)*#")
	seg := tt.line("commit confirmed 1", "unconfirmed(config)#")
	if !strings.Contains(seg, "previous configuration returns in 1s") {
		t.Errorf("commit confirmed:\n%q", seg)
	}
	tt.signal(syscall.SIGKILL)
	tt.exit()
	waitFor(t, "the automatic rollback", func() bool { return b.runningFile() == before })
	waitWatchdogGone(t, b.dir)
	// The archive: configure replace, the unconfirmed commit, the rollback.
	hist := strings.Split(strings.TrimSpace(b.ok("", "-c", "show commit history").stdout), "\n")
	if len(hist) != 4 || !strings.Contains(hist[1], "automatic rollback") || !strings.Contains(hist[3], "configure replace") {
		t.Errorf("commit history:\n%s", strings.Join(hist, "\n"))
	}
	if _, err := os.Stat(filepath.Join(b.dir, "pending.json")); !os.IsNotExist(err) {
		t.Errorf("pending record left behind: %v", err)
	}
}

// TestCommitConfirmedCancelled: a second `commit`, in the same process or
// another, confirms: the pending record is gone and the watchdog leaves
// without rolling back.
func TestCommitConfirmedCancelled(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.env = confirmEnv
	b.load("remote.cfg")
	// Deadlines long enough for a slow (race-enabled, busy) machine.
	r := b.ok("configure\nhostname confirmed\ncommit confirmed 20\ncommit\nend\n")
	if !strings.Contains(r.stderr, "automatic rollback is cancelled") {
		t.Errorf("second commit:\n%s", r)
	}
	waitWatchdogGone(t, b.dir)
	r = b.ok("configure\nhostname confirmed2\ncommit confirmed 20\nend\n")
	if _, err := os.Stat(filepath.Join(b.dir, "pending.json")); err != nil {
		t.Fatalf("commit confirmed left no pending record: %v", err)
	}
	r = b.ok("configure\ncommit\nend\n")
	if !strings.Contains(r.stderr, "automatic rollback is cancelled") {
		t.Errorf("commit in a new process:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "pending.json")); !os.IsNotExist(err) {
		t.Errorf("pending record left after the confirming commit: %v", err)
	}
	waitWatchdogGone(t, b.dir)
	if got := b.runningFile(); !strings.Contains(got, "hostname confirmed2\n") {
		t.Errorf("confirmed commit was rolled back:\n%s", got)
	}
}

// TestCommitConfirmedRecoveredAtStart: when no watchdog is left (say the
// machine rebooted) the next mboxsh finds the expired pending commit, rolls
// it back before it reads the running configuration, and shows the
// restored one.
func TestCommitConfirmedRecoveredAtStart(t *testing.T) {
	t.Parallel()
	b := newBox(t)
	b.load("remote.cfg")
	prev := b.runningFile()
	b.ok("configure\nhostname unconfirmed\ncommit\nend\n")
	store, err := persist.Open(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetPending(persist.Pending{Deadline: time.Now().Add(-time.Second), Previous: []byte(prev)}); err != nil {
		t.Fatal(err)
	}
	r := b.ok("", "-c", "show running-config")
	if r.stdout != prev {
		t.Errorf("first process after an expired commit confirmed:\n%s", lineDiff(prev, r.stdout))
	}
	if !strings.Contains(r.stderr, "previous configuration restored") {
		t.Errorf("no notice of the rollback:\n%s", r)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout())
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitWatchdogGone waits until no watchdog holds the state directory's
// lock, so that none outlives the test.
func waitWatchdogGone(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, "the watchdog to exit", func() bool {
		f, free, err := shell.LockWatchdog(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free {
			f.Close()
		}
		return free
	})
}
