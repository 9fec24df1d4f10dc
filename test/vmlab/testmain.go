package vmlab

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// InVM reports whether this process runs inside a vmlab guest (stage 2 sets
// MBOXSH_IN_VM=1 in the environment of the command it runs).
func InVM() bool { return os.Getenv("MBOXSH_IN_VM") == "1" }

// SkipAllowed reports whether MBOXSH_ALLOW_SKIP=1: tests whose components
// are missing may skip instead of failing.
func SkipAllowed() bool { return os.Getenv("MBOXSH_ALLOW_SKIP") == "1" }

// Require fails t unless it runs inside the VM (skips it instead when
// MBOXSH_ALLOW_SKIP=1). For tests in packages that do not use RunTestsInVM
// and expect `go test -exec vmexec`.
func Require(t testing.TB) {
	t.Helper()
	if InVM() {
		return
	}
	const msg = "this test needs the vmlab VM: use vmlab.RunTestsInVM in TestMain, or go test -exec vmexec"
	if SkipAllowed() {
		t.Skip(msg + " (skipped: MBOXSH_ALLOW_SKIP=1)")
	}
	t.Fatal(msg)
}

// Available reports whether a VM can be booted here: QEMU is installed and
// the kernel is in the cache or can be downloaded and prepared now (which is
// done). The error says what is missing and how to get it.
func Available(ctx context.Context) error {
	if _, err := lookTool("qemu-system-x86_64"); err != nil {
		return fmt.Errorf("%w (apt-get install qemu-system-x86)", err)
	}
	_, err := PrepareKernel(ctx, CacheDir(), os.Stderr)
	return err
}

// RunTestsInVM is a TestMain body that runs all tests of the package inside
// one VM boot:
//
//	func TestMain(m *testing.M) { vmlab.RunTestsInVM(m) }
//
// On the host it boots a VM and re-executes the test binary in it with the
// same flags (-test.run, -test.v, ...), working directory and environment,
// streams its output and exits with its exit code. Inside the VM it just
// calls m.Run. With -test.list it runs on the host (nothing executes). If the
// VM cannot be had, it fails the package, or exits 0 after saying why when
// MBOXSH_ALLOW_SKIP=1. It never returns.
func RunTestsInVM(m *testing.M) {
	os.Exit(RunTests(m))
}

// RunTests is RunTestsInVM returning the exit code instead of exiting, for
// a TestMain that has cleanup to do on the host before os.Exit:
//
//	func TestMain(m *testing.M) {
//		dir := setUp()
//		code := vmlab.RunTests(m)
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
func RunTests(m *testing.M) int {
	if InVM() {
		return m.Run()
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmlab: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Available(ctx); err != nil {
		if SkipAllowed() {
			fmt.Printf("--- SKIP: all tests of %s: the VM is not available (MBOXSH_ALLOW_SKIP=1): %v\n", filepath.Base(exe), err)
			return 0
		}
		fmt.Fprintf(os.Stderr, "FAIL: these tests need the vmlab VM, which is not available: %v\n"+
			"(run .ci/lab-setup; set MBOXSH_ALLOW_SKIP=1 to skip instead)\n", err)
		return 1
	}
	o, err := ExecOptions(append([]string{exe}, os.Args[1:]...))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmlab: %v\n", err)
		return 1
	}
	if testing.Verbose() || os.Getenv("MBOXSH_VMLAB_VERBOSE") == "1" {
		o.Log = os.Stderr
	}
	code, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	return code
}

// ExecOptions returns the Options to run argv in the VM the way the current
// process would run it on the host: the current working directory, the whole
// environment, stdout and stderr. If argv[0] is a test binary built by
// `go test` (it lives in a go-build directory), that directory is shared
// read-write so that -test.coverprofile, -test.gocoverdir and the test
// cache's log reach the host; the timeout is -test.timeout plus two minutes
// for the boot.
func ExecOptions(argv []string) (Options, error) {
	if len(argv) == 0 {
		return Options{}, fmt.Errorf("vmlab: empty command")
	}
	argv = append([]string(nil), argv...)
	if strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
		abs, err := filepath.Abs(argv[0])
		if err != nil {
			return Options{}, fmt.Errorf("vmlab: %w", err)
		}
		argv[0] = abs
	}
	wd, err := os.Getwd()
	if err != nil {
		return Options{}, fmt.Errorf("vmlab: %w", err)
	}
	o := Options{
		Argv:   argv,
		Dir:    wd,
		Env:    os.Environ(),
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	if filepath.IsAbs(argv[0]) && strings.Contains(argv[0], string(filepath.Separator)+"go-build") {
		o.WritableDirs = []string{filepath.Dir(argv[0])}
	}
	if d := testTimeout(argv[1:]); d > 0 {
		o.Timeout = d + 2*time.Minute
	}
	return o, nil
}

// testTimeout finds -test.timeout in a test binary's arguments.
func testTimeout(args []string) time.Duration {
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		if a == args[i] {
			continue
		}
		name, val, ok := strings.Cut(a, "=")
		if name != "test.timeout" {
			continue
		}
		if !ok && i+1 < len(args) {
			val = args[i+1]
		}
		if d, err := time.ParseDuration(val); err == nil {
			return d
		}
	}
	return 0
}
