package vmlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Guest resources, as measured in the recipe: with tb-size=256 QEMU peaks at
// about 0.6 GB.
const (
	guestMemoryMB = 1024
	guestCPUs     = 2
)

// kernelCmdline: kernel messages go to ttyS0 (console.log), never into the
// command's output; panic=-1 and reboot=t with -no-reboot make any failure
// or the final reboot end QEMU at once.
const kernelCmdline = "console=ttyS0 loglevel=7 panic=-1 reboot=t rdinit=/init mitigations=off audit=0 tsc=reliable no_timer_check random.trust_cpu=on"

// Options describe one command to run in a fresh VM.
type Options struct {
	// Argv is the command; Argv[0] is looked up in the PATH of Env inside
	// the guest. It runs as root.
	Argv []string
	// Dir is the working directory inside the guest (the host's tree is
	// visible at the same paths). Default "/".
	Dir string
	// Env is the command's whole environment, "KEY=VALUE" entries. nil means
	// DefaultEnv(). MBOXSH_IN_VM=1 is always added.
	Env []string
	// Stdout and Stderr receive the command's output, streamed through two
	// virtio consoles. nil discards. When both are the same writer, one
	// console carries both, so their order is kept.
	Stdout, Stderr io.Writer
	// Timeout bounds the whole run, boot included; 0 means only ctx.
	Timeout time.Duration
	// CacheDir holds the kernel; "" means CacheDir().
	CacheDir string
	// WritableDirs are host directories the guest mounts read-write at the
	// same paths (over 9p), so that files written there reach the host.
	// Everything else the guest writes lands in its tmpfs overlay and is
	// lost at the end of the run.
	WritableDirs []string
	// Log receives the harness's own messages (kernel download, accelerator,
	// timings). nil discards.
	Log io.Writer
	// KeepRunDir keeps the per-run directory (console.log and the command
	// files) and names it in Log. Also set by MBOXSH_VMLAB_KEEP=1.
	KeepRunDir bool
}

// DefaultEnv is the environment of a command when Options.Env is nil.
func DefaultEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"TERM=dumb",
		"LANG=C.UTF-8",
	}
}

// Run boots a VM, runs o.Argv in it and returns the command's exit code.
// err is non-nil when the VM could not run the command to its end (no
// QEMU, no kernel, a timeout, a guest that died); it then carries the tail
// of the guest's console.
func Run(ctx context.Context, o Options) (exitCode int, err error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if err := checkOptions(&o); err != nil {
		return -1, err
	}
	qemu, err := lookTool("qemu-system-x86_64")
	if err != nil {
		return -1, err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	k, err := PrepareKernel(ctx, o.CacheDir, o.Log)
	if err != nil {
		return -1, err
	}
	accel, why := DetectAccel()

	runDir, err := os.MkdirTemp("", "mboxsh-vmlab-")
	if err != nil {
		return -1, fmt.Errorf("vmlab: %w", err)
	}
	if o.KeepRunDir || os.Getenv("MBOXSH_VMLAB_KEEP") == "1" {
		defer fmt.Fprintf(log, "vmlab: kept %s\n", runDir)
	} else {
		defer os.RemoveAll(runDir)
	}
	merged := sameWriter(o.Stdout, o.Stderr)
	if err := writeRunFiles(runDir, &o, k, merged); err != nil {
		return -1, err
	}

	args := qemuArgs(k, accel, runDir, o.WritableDirs)
	outR, outW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("vmlab: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return -1, fmt.Errorf("vmlab: %w", err)
	}
	cmd := exec.Command(qemu, args...)
	cmd.ExtraFiles = []*os.File{outW, errW} // fds 3 and 4, see qemuArgs
	var qemuOut tailBuffer
	cmd.Stdout = &qemuOut
	cmd.Stderr = &qemuOut
	// Kill QEMU with us if we die first. Pdeathsig follows the thread that
	// forked, so fork from a fresh goroutine: it never runs on a thread that
	// a caller locked (runtime.LockOSThread), the only kind Go ever ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	fmt.Fprintf(log, "vmlab: booting %s (%s: %s)\n", k.ABI, accel, why)
	started := make(chan error, 1)
	go func() { started <- cmd.Start() }()
	if err := <-started; err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return -1, fmt.Errorf("vmlab: starting QEMU: %w", err)
	}
	outW.Close()
	errW.Close()
	first := &firstWrite{}
	var copies sync.WaitGroup
	for _, p := range []struct {
		r *os.File
		w io.Writer
	}{{outR, o.Stdout}, {errR, o.Stderr}} {
		w := p.w
		if w == nil {
			w = io.Discard
		}
		copies.Add(1)
		go func(r *os.File, w io.Writer) {
			defer copies.Done()
			defer r.Close()
			_, _ = io.Copy(first.wrap(w), r)
		}(p.r, w)
	}

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var qerr error
	select {
	case qerr = <-waitErr:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waitErr
		copies.Wait()
		return -1, fmt.Errorf("vmlab: %s: %w after %s%s", strings.Join(o.Argv, " "), ctx.Err(),
			time.Since(start).Round(time.Millisecond), consoleTail(runDir))
	}
	copies.Wait()
	total := time.Since(start)
	if t := first.at(); !t.IsZero() {
		fmt.Fprintf(log, "vmlab: first output %s after QEMU start, total %s\n",
			t.Sub(start).Round(time.Millisecond), total.Round(time.Millisecond))
	} else {
		fmt.Fprintf(log, "vmlab: no output, total %s\n", total.Round(time.Millisecond))
	}

	if b, err := os.ReadFile(filepath.Join(runDir, "setup-error")); err == nil {
		return -1, fmt.Errorf("vmlab: guest setup failed: %s%s", strings.TrimSpace(string(b)), consoleTail(runDir))
	}
	b, err := os.ReadFile(filepath.Join(runDir, "exit"))
	if err != nil {
		msg := "QEMU exited"
		if qerr != nil {
			msg = fmt.Sprintf("QEMU: %v", qerr)
		}
		if s := strings.TrimSpace(qemuOut.String()); s != "" {
			msg += ": " + s
		}
		return -1, fmt.Errorf("vmlab: no exit code from the guest (%s)%s", msg, consoleTail(runDir))
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1, fmt.Errorf("vmlab: bad exit code %q", b)
	}
	return code, nil
}

func checkOptions(o *Options) error {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return errors.New("vmlab: empty command")
	}
	if strings.Contains(o.Argv[0], "=") {
		return fmt.Errorf("vmlab: command name %q contains '='", o.Argv[0])
	}
	for _, s := range append(append([]string{o.Dir}, o.Argv...), o.Env...) {
		if strings.ContainsRune(s, 0) {
			return fmt.Errorf("vmlab: NUL byte in %q", s)
		}
	}
	if o.Dir == "" {
		o.Dir = "/"
	}
	if !filepath.IsAbs(o.Dir) {
		return fmt.Errorf("vmlab: working directory %q is not absolute", o.Dir)
	}
	if o.Env == nil {
		o.Env = DefaultEnv()
	}
	env := make([]string, 0, len(o.Env)+1)
	for _, kv := range o.Env {
		if i := strings.IndexByte(kv, '='); i > 0 && !strings.HasPrefix(kv, "MBOXSH_IN_VM=") {
			env = append(env, kv)
		}
	}
	o.Env = append(env, "MBOXSH_IN_VM=1")
	for i, d := range o.WritableDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("vmlab: %w", err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return fmt.Errorf("vmlab: writable directory %q is not a directory", d)
		}
		if strings.ContainsAny(abs, "\n\x00") {
			return fmt.Errorf("vmlab: writable directory %q has a newline", d)
		}
		if abs == "/" {
			return errors.New("vmlab: / cannot be shared read-write")
		}
		o.WritableDirs[i] = abs
	}
	return nil
}

// writeRunFiles writes stage 2 and its inputs into the run share. Lists are
// NUL-separated, so no value is ever parsed by a shell.
func writeRunFiles(dir string, o *Options, k *Kernel, merged bool) error {
	nul := func(ss ...string) []byte {
		var b bytes.Buffer
		for _, s := range ss {
			b.WriteString(s)
			b.WriteByte(0)
		}
		return b.Bytes()
	}
	var shares bytes.Buffer // read by busybox sh in stage 1: one value a line
	for i, d := range o.WritableDirs {
		fmt.Fprintf(&shares, "share%d\n%s\n", i, d)
	}
	files := map[string][]byte{
		"stage2":  []byte(stage2Script),
		"argv":    nul(o.Argv...),
		"env":     nul(o.Env...),
		"dir":     nul(o.Dir),
		"shares":  shares.Bytes(),
		"modules": []byte(k.ModulesDir + "\n"),
	}
	if merged {
		files["merge"] = nil
	}
	for name, data := range files {
		perm := os.FileMode(0o600)
		if name == "stage2" {
			perm = 0o700
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, perm); err != nil {
			return fmt.Errorf("vmlab: %w", err)
		}
	}
	return nil
}

// qemuArgs is the command line of vmlab.md. The command's stdout and stderr
// are two virtio consoles writing to inherited pipes (fds 3 and 4).
func qemuArgs(k *Kernel, accel, runDir string, shares []string) []string {
	a := []string{
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-M", "q35",
	}
	if accel == "kvm" {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max")
	}
	a = append(a,
		"-m", strconv.Itoa(guestMemoryMB), "-smp", strconv.Itoa(guestCPUs),
		"-kernel", k.Vmlinux, "-initrd", k.Initramfs,
		"-append", kernelCmdline,
		"-serial", "file:"+filepath.Join(runDir, "console.log"),
		"-chardev", "file,id=out,path=/dev/fd/3",
		"-chardev", "file,id=err,path=/dev/fd/4",
		"-device", "virtio-serial-pci",
		"-device", "virtconsole,chardev=out", // hvc0
		"-device", "virtconsole,chardev=err", // hvc1
		"-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=root,mount_tag=root",
		"-fsdev", "local,id=run,path="+qemuEscape(runDir)+",security_model=none,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=run,mount_tag=run",
	)
	for i, d := range shares {
		id := fmt.Sprintf("share%d", i)
		a = append(a,
			"-fsdev", "local,id="+id+",path="+qemuEscape(d)+",security_model=none,multidevs=remap",
			"-device", "virtio-9p-pci,fsdev="+id+",mount_tag="+id)
	}
	return append(a, "-device", "virtio-rng-pci")
}

// qemuEscape escapes a value inside a QEMU option list (a comma is doubled).
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// DetectAccel picks the accelerator: KVM only where it really works, TCG
// otherwise. MBOXSH_VMLAB_ACCEL=tcg|kvm overrides. why says what decided.
func DetectAccel() (accel, why string) {
	switch v := os.Getenv("MBOXSH_VMLAB_ACCEL"); v {
	case "tcg", "kvm":
		return v, "MBOXSH_VMLAB_ACCEL"
	}
	if exists("/sys/module/kvm_pvm") {
		// The host is itself a PVM guest: a stock kernel hangs after
		// "Probing EDD" and -cpu host trips an MSR assertion.
		return "tcg", "/dev/kvm is kvm_pvm"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "tcg", "no usable /dev/kvm"
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 || v != 12 {
		return "tcg", "KVM_GET_API_VERSION failed"
	}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		if strings.HasPrefix(line, "flags") {
			for _, fl := range strings.Fields(line) {
				if fl == "vmx" || fl == "svm" {
					return "kvm", "/dev/kvm with " + fl
				}
			}
			break
		}
	}
	return "tcg", "/dev/kvm but no vmx/svm flag"
}

// consoleTail formats the end of the guest's console.log for an error.
func consoleTail(runDir string) string {
	const maxBytes, maxLines = 16 << 10, 40
	f, err := os.Open(filepath.Join(runDir, "console.log"))
	if err != nil {
		return "\n(no console.log: " + err.Error() + ")"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-maxBytes, 0)
	b := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(b, off)
	lines := strings.Split(strings.TrimRight(string(b[:n]), "\r\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	for i := range lines {
		lines[i] = "  | " + strings.TrimRight(lines[i], "\r")
	}
	return "\nlast lines of the guest console:\n" + strings.Join(lines, "\n")
}

// sameWriter reports whether a and b are the same non-nil writer, without
// panicking on writers whose type is not comparable.
func sameWriter(a, b io.Writer) bool {
	if a == nil || b == nil {
		return false
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}

// firstWrite records when the first byte of output arrived.
type firstWrite struct {
	mu sync.Mutex
	t  time.Time
}

func (f *firstWrite) wrap(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		f.mu.Lock()
		if f.t.IsZero() && len(p) > 0 {
			f.t = time.Now()
		}
		f.mu.Unlock()
		return w.Write(p)
	})
}

func (f *firstWrite) at() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// tailBuffer keeps the last 8 KiB written to it (QEMU's own messages).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-8<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
