package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mboxsh/test/vmlab"
)

// These tests run on the host: each boots its own VM.

func requireVM(t testing.TB) {
	t.Helper()
	if vmlab.InVM() {
		t.Fatal("these tests boot VMs; run them on the host")
	}
	if err := vmlab.Available(context.Background()); err != nil {
		if vmlab.SkipAllowed() {
			t.Skipf("the VM is not available (MBOXSH_ALLOW_SKIP=1): %v", err)
		}
		t.Fatalf("the VM is not available (run .ci/lab-setup): %v", err)
	}
}

// TestVMExec runs the vmexec command the way `go test -exec` would: the
// working directory and environment pass through, stdout and stderr stay
// apart, the exit code comes back.
func TestVMExec(t *testing.T) {
	requireVM(t)
	bin := filepath.Join(t.TempDir(), "vmexec")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--", "bash", "-c",
		`echo "$PWD|$MBOXSH_TEST_VALUE|$MBOXSH_IN_VM|$(id -u)"; echo to-stderr >&2; printf 'a\nb\n' >/dev/stdout; exit 7`)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MBOXSH_TEST_VALUE=x y'z")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("vmexec: %v, want exit status 7\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if want := dir + "|x y'z|1|0\na\nb\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if stderr.String() != "to-stderr\n" {
		t.Errorf("stderr %q, want %q", stderr.String(), "to-stderr\n")
	}
}

// TestRunMergedAndTimeout: one writer for both streams keeps their order;
// a timeout ends the VM and the error quotes the guest console.
func TestRunMergedAndTimeout(t *testing.T) {
	requireVM(t)
	var out bytes.Buffer
	code, err := vmlab.Run(context.Background(), vmlab.Options{
		Argv:   []string{"sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2"},
		Stdout: &out, Stderr: &out,
	})
	if err != nil || code != 0 {
		t.Fatalf("Run: %d, %v", code, err)
	}
	if out.String() != "1\n2\n3\n4\n" {
		t.Errorf("merged output %q", out.String())
	}

	start := time.Now()
	_, err = vmlab.Run(context.Background(), vmlab.Options{Argv: []string{"sleep", "600"}, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || !strings.Contains(err.Error(), "guest console") {
		t.Errorf("Run with a timeout: %v", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the timeout took %s", d)
	}
}

// BenchmarkBoot measures a whole run of `echo` (boot, command, power off)
// and reports the time to its first output line.
func BenchmarkBoot(b *testing.B) {
	requireVM(b)
	var first time.Duration
	for b.Loop() {
		start := time.Now()
		w := &firstLine{start: start}
		code, err := vmlab.Run(context.Background(), vmlab.Options{Argv: []string{"echo", "hi"}, Stdout: w})
		if err != nil || code != 0 {
			b.Fatalf("Run: %d, %v", code, err)
		}
		first += w.after
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s-to-output/op")
}

type firstLine struct {
	start time.Time
	after time.Duration
}

func (f *firstLine) Write(p []byte) (int, error) {
	if f.after == 0 {
		f.after = time.Since(f.start)
	}
	return len(p), nil
}
