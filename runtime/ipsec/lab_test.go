package ipsec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
)

// need fails the test with msg unless MBOXSH_ALLOW_SKIP=1, then it skips.
func need(t testing.TB, ok bool, msg string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg + " (set MBOXSH_ALLOW_SKIP=1 to skip)")
}

func needLab(t testing.TB) {
	t.Helper()
	need(t, os.Geteuid() == 0, "needs root (network namespaces, charon)")
	_, err := os.Stat("/usr/lib/ipsec/charon")
	need(t, err == nil, "needs strongSwan's charon at /usr/lib/ipsec/charon (Debian strongswan-charon)")
	_, err = exec.LookPath("ip")
	need(t, err == nil, "needs iproute2's ip")
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// site is one simulated appliance: a network namespace and a driver.
type site struct {
	name   string
	ns     string
	runDir string
	cfg    *config.Config
	drv    *Driver
	logs   bytes.Buffer
}

// lab is two sites joined by a veth pair, addressed like the reference
// configurations (hq 198.51.100.2, remote 203.0.113.2, on-link routes to
// each other).
type lab struct {
	t          *testing.T
	hq, remote *site
	gre        bool
}

var labSeq int

func newLab(t *testing.T, gre bool) *lab {
	t.Helper()
	needLab(t)
	labSeq++
	tag := fmt.Sprintf("%d-%d", os.Getpid()%100000, labSeq)
	l := &lab{t: t, gre: gre}
	base := t.TempDir()
	l.hq = &site{name: "hq", ns: "mbxipsec-hq" + tag, runDir: filepath.Join(base, "hq")}
	l.remote = &site{name: "remote", ns: "mbxipsec-rm" + tag, runDir: filepath.Join(base, "remote")}
	for _, s := range []*site{l.hq, l.remote} {
		run(t, "ip", "netns", "add", s.ns)
		ns := s.ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", s.ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "link", "add", "eth0", "netns", l.hq.ns, "type", "veth", "peer", "name", "eth0", "netns", l.remote.ns)
	for _, x := range []struct {
		s          *site
		addr, peer string
	}{{l.hq, "198.51.100.2/24", "203.0.113.0/24"}, {l.remote, "203.0.113.2/24", "198.51.100.0/24"}} {
		run(t, "ip", "-n", x.s.ns, "addr", "add", x.addr, "dev", "eth0")
		run(t, "ip", "-n", x.s.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", x.s.ns, "route", "add", x.peer, "dev", "eth0")
	}
	if gre {
		run(t, "ip", "-n", l.hq.ns, "link", "add", "tun0", "type", "gre", "local", "198.51.100.2", "remote", "203.0.113.2", "ttl", "64")
		run(t, "ip", "-n", l.remote.ns, "link", "add", "tun0", "type", "gre", "local", "203.0.113.2", "remote", "198.51.100.2", "ttl", "64")
		for _, x := range []struct {
			s    *site
			addr string
		}{{l.hq, "172.16.0.1/30"}, {l.remote, "172.16.0.2/30"}} {
			run(t, "ip", "-n", x.s.ns, "link", "set", "tun0", "mtu", "1400", "up")
			run(t, "ip", "-n", x.s.ns, "addr", "add", x.addr, "dev", "tun0")
		}
	}
	for _, s := range []*site{l.hq, l.remote} {
		s.cfg = loadExample(t, s.name+".cfg")
		s := s
		d, err := New(Options{NetNS: s.ns, RunDir: s.runDir, NoSystemCharon: true,
			Logf: func(f string, a ...any) { fmt.Fprintf(&s.logs, f+"\n", a...) }})
		if err != nil {
			t.Fatal(err)
		}
		s.drv = d
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.StopCharon(ctx); err != nil {
				t.Errorf("%s: stopping charon: %v", s.name, err)
			}
			d.Close()
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(s.runDir, "charon.log"))
				t.Logf("--- %s charon.log ---\n%s", s.name, tail(string(b), 60))
			}
		})
	}
	return l
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// loadExample parses a reference configuration from shared/examples.
func loadExample(t testing.TB, name string) *config.Config {
	t.Helper()
	var src []byte
	var err error
	for _, dir := range []string{"/work/shared/examples", "../../../shared/examples", "../../config/testdata"} {
		src, err = os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("reference configuration %s: %v", name, err)
	}
	cfg, err := config.Parse(src, name)
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return cfg
}

// apply commits cfg on a site (from its current config) through the
// runtime transaction.
func (s *site) apply(t testing.TB, to *config.Config) []runtime.Step {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	from := s.cfg
	if s.drv.SocketPath() == "" && len(s.drv.appliedSpecs()) == 0 {
		from = &config.Config{}
	}
	res, err := runtime.Apply(ctx, []runtime.Driver{s.drv}, from, to, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: apply: %v", s.name, err)
	}
	s.cfg = to
	return res.Steps
}

func (s *site) status(t testing.TB) *Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.drv.Status(ctx)
	if err != nil {
		t.Fatalf("%s: status: %v", s.name, err)
	}
	return st
}

// waitPeer polls the status until cond holds for the single peer.
func (s *site) waitPeer(t testing.TB, what string, timeout time.Duration, cond func(p *PeerStatus) bool) *PeerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *Status
	for time.Now().Before(deadline) {
		last = s.status(t)
		if len(last.Peers) == 1 && cond(&last.Peers[0]) {
			return &last.Peers[0]
		}
		time.Sleep(200 * time.Millisecond)
	}
	var b strings.Builder
	if last != nil {
		RenderSA(&b, last)
	}
	t.Fatalf("%s: timed out after %v waiting for %s; status:\n%s", s.name, timeout, what, b.String())
	return nil
}

func withPSK(cfg *config.Config, psk string) *config.Config {
	c := cfg.Clone()
	c.Peers[0].PSK = psk
	return c
}
