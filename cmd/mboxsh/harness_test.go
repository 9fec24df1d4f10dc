package main

// Black-box tests of the mboxsh binary: TestMain builds it once, the tests
// drive it through pipes (batch mode) and through a pseudo-terminal
// (interactive mode), always with --offline and a fresh --state-dir, so
// they need no root and touch no kernel. Helpers live in this file; the
// tests in batch_e2e_test.go, pty_e2e_test.go, state_e2e_test.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// mboxshBin is the binary under test, built by TestMain.
var mboxshBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mboxsh-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The unprivileged-user test runs the binary as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin := filepath.Join(dir, "mboxsh")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		// A test run under -race checks the product's goroutines too
		// (the pager, the watchdog): a race makes the binary exit 66.
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mboxsh: %v\n", err)
		return 1
	}
	mboxshBin = bin
	return m.Run()
}

// goTool is the go command: on PATH, else in $GOROOT/bin.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// timeout bounds every wait for the binary (a race-enabled build is slow).
func timeout() time.Duration {
	if raceEnabled {
		return 30 * time.Second
	}
	return 10 * time.Second
}

// testdata returns the path of a file in testdata.
func testdata(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(testdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// box is one appliance's state directory, driven in offline mode.
type box struct {
	t   testing.TB
	dir string
	env []string // extra environment
}

func newBox(t testing.TB) *box {
	return &box{t: t, dir: t.TempDir()}
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// baseEnv is the environment of every run: the test's own, with a normal
// terminal type (so "no escape sequences" is not owed to TERM=dumb).
func (b *box) baseEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TERM=") && !strings.HasPrefix(kv, "MBOXSH_") {
			env = append(env, kv)
		}
	}
	env = append(env, "TERM=xterm-256color")
	return append(env, b.env...)
}

// run runs mboxsh --offline --state-dir DIR args… with stdin (not a
// terminal). Output must never contain an escape sequence.
func (b *box) run(stdin string, args ...string) result {
	b.t.Helper()
	return b.runRaw(stdin, append([]string{"--offline", "--state-dir", b.dir}, args...)...)
}

// runRaw runs mboxsh with exactly args.
func (b *box) runRaw(stdin string, args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, mboxshBin, args...)
	cmd.Env = b.baseEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		b.t.Fatalf("mboxsh %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	if raceEnabled && strings.Contains(r.stderr, "WARNING: DATA RACE") {
		b.t.Fatalf("mboxsh %s: data race\n%s", strings.Join(args, " "), r.stderr)
	}
	if strings.ContainsRune(r.stdout, 0x1b) || strings.ContainsRune(r.stderr, 0x1b) {
		b.t.Errorf("mboxsh %s: escape sequence in output to a pipe:\n%q\n%q", strings.Join(args, " "), r.stdout, r.stderr)
	}
	return r
}

// ok runs and requires exit status 0.
func (b *box) ok(stdin string, args ...string) result {
	b.t.Helper()
	r := b.run(stdin, args...)
	if r.code != 0 {
		b.t.Fatalf("mboxsh %s: want success, got\n%s", strings.Join(args, " "), r)
	}
	return r
}

// load commits a configuration file as the running config.
func (b *box) load(file string) {
	b.t.Helper()
	b.ok("", "-c", "configure replace "+testdata(b.t, file))
}

// running returns `show running-config`.
func (b *box) running() string {
	b.t.Helper()
	return b.ok("", "-c", "show running-config").stdout
}

// runningFile reads the running-config file directly (no mboxsh process,
// which would act on a pending `commit confirmed` itself).
func (b *box) runningFile() string {
	b.t.Helper()
	text, err := os.ReadFile(filepath.Join(b.dir, "running-config"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		b.t.Fatal(err)
	}
	return string(text)
}

// tty is mboxsh running on a pseudo-terminal.
type tty struct {
	t    testing.TB
	pty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []byte // everything the terminal received
	pos  int    // how much of out the test has consumed
	wake chan struct{}
	done chan struct{} // closed when the reader hits EOF
	wait chan error    // the process's exit
}

// startTTY starts mboxsh --offline --state-dir DIR args… on a 120x40
// terminal.
func (b *box) startTTY(env []string, args ...string) *tty {
	b.t.Helper()
	cmd := exec.Command(mboxshBin, append([]string{"--offline", "--state-dir", b.dir}, args...)...)
	cmd.Env = append(b.baseEnv(), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		b.t.Fatalf("start mboxsh on a pty: %v", err)
	}
	tt := &tty{t: b.t, pty: f, cmd: cmd, wake: make(chan struct{}, 1), done: make(chan struct{}), wait: make(chan error, 1)}
	go tt.read()
	go func() { tt.wait <- cmd.Wait() }()
	b.t.Cleanup(tt.close)
	return tt
}

func (tt *tty) read() {
	defer close(tt.done)
	buf := make([]byte, 4096)
	for {
		n, err := tt.pty.Read(buf)
		if n > 0 {
			tt.mu.Lock()
			tt.out = append(tt.out, buf[:n]...)
			tt.mu.Unlock()
			select {
			case tt.wake <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return // EIO once the process is gone
		}
	}
}

// close ends the process (if still running) and checks the whole
// transcript: a shell for unknown terminals must never query the cursor
// position.
func (tt *tty) close() {
	select {
	case err := <-tt.wait:
		tt.wait <- err
	default:
		_ = tt.cmd.Process.Kill()
		<-tt.wait
	}
	tt.pty.Close()
	<-tt.done
	out := tt.transcript()
	if strings.Contains(out, "\x1b[6n") {
		tt.t.Errorf("mboxsh wrote a cursor-position query (ESC[6n):\n%q", out)
	}
	if raceEnabled && strings.Contains(out, "WARNING: DATA RACE") {
		tt.t.Errorf("data race in mboxsh:\n%s", out)
	}
}

func (tt *tty) transcript() string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return string(tt.out)
}

// send types keys.
func (tt *tty) send(keys string) {
	tt.t.Helper()
	if _, err := tt.pty.Write([]byte(keys)); err != nil {
		tt.t.Fatalf("typing %q: %v", keys, err)
	}
}

// expect waits until the unconsumed output contains want and returns the
// output up to and including it.
func (tt *tty) expect(want string) string {
	tt.t.Helper()
	return tt.expectFunc(fmt.Sprintf("%q", want), func(b []byte) int {
		if i := bytes.Index(b, []byte(want)); i >= 0 {
			return i + len(want)
		}
		return -1
	})
}

func (tt *tty) expectFunc(what string, find func([]byte) int) string {
	tt.t.Helper()
	deadline := time.NewTimer(timeout())
	defer deadline.Stop()
	for {
		tt.mu.Lock()
		if end := find(tt.out[tt.pos:]); end >= 0 {
			seg := string(tt.out[tt.pos : tt.pos+end])
			tt.pos += end
			tt.mu.Unlock()
			return seg
		}
		rest := string(tt.out[tt.pos:])
		tt.mu.Unlock()
		select {
		case <-tt.wake:
		case <-tt.done:
			// Output is complete: one last look.
			tt.mu.Lock()
			end := find(tt.out[tt.pos:])
			if end >= 0 {
				seg := string(tt.out[tt.pos : tt.pos+end])
				tt.pos += end
				tt.mu.Unlock()
				return seg
			}
			tt.mu.Unlock()
			tt.t.Fatalf("mboxsh ended before %s appeared; output since the last match:\n%q", what, rest)
		case <-deadline.C:
			tt.t.Fatalf("timed out waiting for %s; output since the last match:\n%q", what, rest)
		}
	}
}

// line types a command, presses Enter and waits for the next prompt;
// it returns what was printed in between (the echo of the line included).
func (tt *tty) line(cmd, nextPrompt string) string {
	tt.t.Helper()
	tt.send(cmd + "\r")
	return tt.expect(nextPrompt)
}

// exit waits for the process to end and returns its exit status.
func (tt *tty) exit() int {
	tt.t.Helper()
	select {
	case err := <-tt.wait:
		tt.wait <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tt.t.Fatal(err)
		}
		return 0
	case <-time.After(timeout()):
		tt.t.Fatalf("mboxsh did not exit; output:\n%q", tt.transcript())
		return -1
	}
}

// signal sends sig to the process.
func (tt *tty) signal(sig syscall.Signal) {
	if err := tt.cmd.Process.Signal(sig); err != nil {
		tt.t.Fatal(err)
	}
}
