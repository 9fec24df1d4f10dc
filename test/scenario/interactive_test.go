package scenario

import (
	"bytes"
	"fmt"
	"mboxsh/internal/linediff"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// term is an interactive mboxsh on a pseudo-terminal.
type term struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int // bytes of buf already matched
}

func (l *lab) terminal(site string) *term {
	l.t.Helper()
	cmd := exec.Command(l.bin, "--netns", site, "--state-dir", filepath.Join(l.dir, "state-"+site))
	cmd.Env = append(os.Environ(), "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		l.t.Fatal(err)
	}
	tm := &term{t: l.t, f: f, cmd: cmd}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			tm.mu.Lock()
			tm.buf.Write(b[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	l.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		f.Close()
	})
	return tm
}

// expect waits until the output since the last match contains re.
func (tm *term) expect(re string) string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		tm.mu.Lock()
		out := tm.buf.String()[tm.seen:]
		if loc := rx.FindStringIndex(out); loc != nil {
			tm.seen += loc[1]
			tm.mu.Unlock()
			return out[:loc[1]]
		}
		tm.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.t.Fatalf("timed out waiting for %q; terminal shows:\n%s", re, tm.buf.String()[tm.seen:])
	return ""
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := tm.f.WriteString(s); err != nil {
		tm.t.Fatal(err)
	}
}

// kernelView is an appliance's kernel state with volatile parts removed,
// for comparing two ways of configuring it.
func (l *lab) kernelView(site string) string {
	volatile := regexp.MustCompile(`^\d+: |link/\S+ \S+ brd \S+|link-netns \S+|@if\d+|qdisc \S+|valid_lft \S+|preferred_lft \S+|packets \d+ bytes \d+|\s+$`)
	var lines []string
	for _, args := range [][]string{
		{"ip", "-o", "link", "show"},
		{"ip", "-o", "-4", "addr", "show"},
		{"ip", "route", "show"},
		{"nft", "list", "ruleset"},
	} {
		out, _ := l.tryIn(site, args...)
		for _, line := range strings.Split(out, "\n") {
			line = volatile.ReplaceAllString(line, "")
			if strings.TrimSpace(line) != "" {
				lines = append(lines, line)
			}
		}
	}
	// Order is the kernel's business (link creation order, set element
	// order); the content is what must match.
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestInteractiveSite configures the remote appliance by typing on a
// terminal, proves the interactive path reaches the same kernel state as
// the batch path, and that the two sites then talk.
func TestInteractiveSite(t *testing.T) {
	l := newLab(t)
	r := &report{w: os.Stdout, start: time.Now()}
	defer r.print("the reference deployment, remote configured interactively")
	buildReference(l)
	if out, err := configure(l, hq); err != nil {
		t.Fatalf("hq: %v\n%s", err, out)
	}
	src, err := os.ReadFile(remote.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	tm := l.terminal(remote.name)
	r.check(t, "prompts: user exec, enable, configure", func() error {
		tm.expect(`mbox>$`)
		tm.send("enable\r")
		tm.expect(`mbox#$`)
		tm.send("conf t\r")
		tm.expect(`mbox\(config\)#$`)
		return nil
	})
	r.check(t, "typing remote.cfg line by line, with `interface t<Tab>`", func() error {
		for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
			if strings.HasPrefix(line, "interface vlan") {
				// Tab completes the tunnel created above to its full name.
				tm.send("interface t\t")
				tm.expect(`interface tun0 $`)
				tm.send("\r")
				tm.expect(`\(config-if-tun0\)\*#$`)
				tm.send("exit\r")
				tm.expect(`\(config\)\*#$`)
			}
			tm.send(line + "\r")
			tm.expect(`#$`)
		}
		tm.send("commit\r")
		tm.expect(`Commit complete`)
		tm.expect(`\(config\)#$`)
		tm.send("end\r")
		tm.expect(`remote#$`)
		return nil
	})
	r.check(t, "show running-config on the terminal equals remote.cfg", func() error {
		got := l.show(remote.name, "show running-config")
		if got != string(src) {
			return fmt.Errorf("running-config differs:\n%s", got)
		}
		return nil
	})
	r.check(t, "LAN-to-LAN ping both ways", func() error {
		if err := eventually(60*time.Second, func() error { return ping(l, remote.lanNS, remote.otherIP) }); err != nil {
			return fmt.Errorf("%v\nevidence:\n%s", err, l.evidence(hq.name, remote.name))
		}
		return ping(l, hq.lanNS, hq.otherIP)
	})
	interactive := l.kernelView(remote.name)
	r.check(t, "the batch path reaches the same kernel state", func() error {
		tm.send("exit\r")
		emptyAppliance(l, remote)
		if err := os.RemoveAll(filepath.Join(l.dir, "state-"+remote.name)); err != nil {
			return err
		}
		if out, err := configure(l, remote); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		if batch := l.kernelView(remote.name); batch != interactive {
			return fmt.Errorf("kernel state differs between the interactive and the batch path:\n%s", linediff.Diff(interactive, batch))
		}
		return nil
	})
}
