// Package scenario holds the multi-site lab tests: appliances as network
// namespaces inside one QEMU VM (Debian's kernel, for GRE, ESP and VLAN),
// each configured only through mboxsh, as an operator would.
package scenario

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mboxsh/test/vmlab"
)

// TestMain builds mboxsh on the host, then runs every test of the package
// inside one VM boot.
func TestMain(m *testing.M) {
	if vmlab.InVM() || os.Getenv("MBOXSH_BIN") != "" {
		vmlab.RunTestsInVM(m)
	}
	dir, err := os.MkdirTemp("", "mboxsh-scenario-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "mboxsh")
	build := exec.Command("go", "build", "-o", bin, "mboxsh/cmd/mboxsh")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mboxsh: %v\n", err)
		os.Exit(1)
	}
	os.Setenv("MBOXSH_BIN", bin)
	code := vmlab.RunTests(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// lab is a topology of namespaces inside the VM.
type lab struct {
	t     *testing.T
	dir   string // state directories, captures, scratch files
	bin   string
	nss   []string
	procs []*exec.Cmd
}

func newLab(t *testing.T) *lab {
	t.Helper()
	bin := os.Getenv("MBOXSH_BIN")
	if bin == "" {
		t.Fatal("MBOXSH_BIN is not set (TestMain builds mboxsh)")
	}
	l := &lab{t: t, dir: t.TempDir(), bin: bin}
	t.Cleanup(l.cleanup)
	return l
}

func (l *lab) cleanup() {
	for _, p := range l.procs {
		if p.Process != nil {
			_ = p.Process.Kill()
			_, _ = p.Process.Wait()
		}
	}
	// Daemons mboxsh started in the namespaces (charon, zebra, ospfd).
	for _, ns := range l.nss {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, pid := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", pid).Run()
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// run runs a command (argv, never a shell) and fails the test on error.
func (l *lab) run(args ...string) string {
	l.t.Helper()
	out, err := l.try(args...)
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (l *lab) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// in runs a command inside a namespace.
func (l *lab) in(ns string, args ...string) string {
	l.t.Helper()
	return l.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func (l *lab) tryIn(ns string, args ...string) (string, error) {
	return l.try(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func (l *lab) addNS(names ...string) {
	for _, n := range names {
		l.run("ip", "netns", "add", n)
		l.nss = append(l.nss, n)
		l.in(n, "ip", "link", "set", "lo", "up")
	}
}

// veth joins a:aName to b:bName.
func (l *lab) veth(a, aName, b, bName string) {
	l.run("ip", "link", "add", aName, "netns", a, "type", "veth", "peer", "name", bName, "netns", b)
}

// mboxsh runs mboxsh for an appliance with the given input on stdin.
func (l *lab) mboxsh(site, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--netns", site, "--state-dir", filepath.Join(l.dir, "state-"+site)}, args...)
	cmd := exec.CommandContext(ctx, l.bin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// show runs one exec command on an appliance and returns its output.
func (l *lab) show(site, command string) string {
	l.t.Helper()
	out, err := l.mboxsh(site, "", "-c", command)
	if err != nil {
		l.t.Fatalf("%s: mboxsh -c %q: %v\n%s", site, command, err, out)
	}
	return out
}

// eventually retries f until it returns nil or the deadline passes.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// capture is a tcpdump running in a namespace.
type capture struct {
	cmd  *exec.Cmd
	file string
}

// startCapture starts tcpdump and waits until it listens (vmlab.md pitfall 1).
func (l *lab) startCapture(ns, iface, filter string) *capture {
	l.t.Helper()
	file := filepath.Join(l.dir, fmt.Sprintf("%s-%s-%d.pcap", ns, iface, time.Now().UnixNano()))
	args := []string{"netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-U", "-w", file}
	if filter != "" {
		args = append(args, filter)
	}
	cmd := exec.Command("ip", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("tcpdump: %v", err)
	}
	l.procs = append(l.procs, cmd)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			if !closed && strings.Contains(sc.Text(), "listening on") {
				close(ready)
				closed = true
			}
		}
		if !closed {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		l.t.Fatal("tcpdump did not start listening")
	}
	return &capture{cmd: cmd, file: file}
}

// packets reads the capture so far as tcpdump's one-line text.
func (l *lab) packets(c *capture) []string {
	out, _ := l.try("tcpdump", "-r", c.file, "-n")
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "reading from") || strings.HasPrefix(line, " ") {
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

// waitPackets waits until the capture holds at least n lines matching re.
func (l *lab) waitPackets(c *capture, re *regexp.Regexp, n int) []string {
	var got []string
	_ = eventually(15*time.Second, func() error {
		got = nil
		for _, p := range l.packets(c) {
			if re.MatchString(p) {
				got = append(got, p)
			}
		}
		if len(got) < n {
			return fmt.Errorf("have %d", len(got))
		}
		return nil
	})
	return got
}

func (l *lab) stop(c *capture) {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(os.Interrupt)
		_, _ = c.cmd.Process.Wait()
	}
}

// report collects the scenario's checks for a readable summary.
type report struct {
	w     io.Writer
	start time.Time
	rows  []string
}

func (r *report) check(t *testing.T, name string, f func() error) bool {
	t.Helper()
	start := time.Now()
	err := f()
	status := "passed"
	if err != nil {
		status = "FAILED"
		t.Errorf("check %q failed: %v", name, err)
	}
	r.rows = append(r.rows, fmt.Sprintf("%-62s %-6s %6.1fs", name, status, time.Since(start).Seconds()))
	return err == nil
}

func (r *report) print(title string) {
	fmt.Fprintf(r.w, "\n=== lab report: %s (%.1fs)\n", title, time.Since(r.start).Seconds())
	for _, row := range r.rows {
		fmt.Fprintln(r.w, row)
	}
	fmt.Fprintln(r.w)
}

// evidence collects the appliances' view for a failure message.
func (l *lab) evidence(sites ...string) string {
	var b strings.Builder
	for _, site := range sites {
		for _, c := range []string{"show ipsec sa", "show ip route", "show configuration drift", "show ip interface brief"} {
			out, _ := l.mboxsh(site, "", "-c", c)
			fmt.Fprintf(&b, "--- %s# %s\n%s", site, c, out)
		}
		out, _ := l.tryIn(site, "ip", "xfrm", "state")
		fmt.Fprintf(&b, "--- %s: ip xfrm state\n%s", site, redactKeys(out))
		out, _ = l.tryIn(site, "ip", "xfrm", "policy")
		fmt.Fprintf(&b, "--- %s: ip xfrm policy\n%s", site, out)
	}
	return b.String()
}

// redactKeys hides key material in `ip xfrm state` output.
func redactKeys(s string) string {
	return regexp.MustCompile(`0x[0-9a-f]{16,}`).ReplaceAllString(s, "0x<key>")
}
