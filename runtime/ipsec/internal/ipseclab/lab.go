// Package ipseclab builds the two-site test network of the IPsec driver's
// tests: two network namespaces (hq and remote, addressed like the
// reference configurations) joined by a veth pair, optionally with the GRE
// tunnel between them, and one ipsec.Driver per site. It is used by the
// host tests (IKE only: the development kernel has no ESP) and by the VM
// tests (everything).
package ipseclab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	"mboxsh/runtime/ipsec"
)

// Prefix starts the names of the namespaces the tests create.
const Prefix = "mbxipsec-"

// Need fails t with msg unless MBOXSH_ALLOW_SKIP=1, when it skips.
func Need(t testing.TB, ok bool, msg string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg + " (set MBOXSH_ALLOW_SKIP=1 to skip)")
}

// NeedLab checks for root, charon and ip.
func NeedLab(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root (network namespaces, charon)")
	_, err := os.Stat("/usr/lib/ipsec/charon")
	Need(t, err == nil, "needs strongSwan's charon at /usr/lib/ipsec/charon (Debian strongswan-charon)")
	_, err = exec.LookPath("ip")
	Need(t, err == nil, "needs iproute2's ip")
}

// Run runs a command and fails t when it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Site is one simulated appliance.
type Site struct {
	Name   string // hq or remote
	NS     string // network namespace
	RunDir string
	Addr   string // public address
	Tunnel string // GRE inner address
	Cfg    *config.Config
	Drv    *ipsec.Driver
	Logs   *syncBuffer // the driver's Logf
	// running is the configuration last applied (the empty one at first).
	running *config.Config
}

// Lab is the two-site network.
type Lab struct {
	HQ, Remote *Site
	GRE        bool
}

var seq atomic.Int32

// Options shape a Lab.
type Options struct {
	GRE bool // create tun0 (GRE) on both sides; needs a kernel with GRE
	// RunDir is the parent of the sites' run directories; default a
	// t.TempDir().
	RunDir string
}

// New builds the lab and registers its teardown with t.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	NeedLab(t)
	tag := fmt.Sprintf("%d-%d", os.Getpid()%100000, seq.Add(1))
	l := &Lab{GRE: o.GRE}
	base := o.RunDir
	if base == "" {
		base = t.TempDir()
	}
	l.HQ = &Site{Name: "hq", NS: Prefix + "hq" + tag, RunDir: filepath.Join(base, "hq"),
		Addr: "198.51.100.2", Tunnel: "172.16.0.1"}
	l.Remote = &Site{Name: "remote", NS: Prefix + "rm" + tag, RunDir: filepath.Join(base, "remote"),
		Addr: "203.0.113.2", Tunnel: "172.16.0.2"}
	for _, s := range l.Sites() {
		Run(t, "ip", "netns", "add", s.NS)
		ns := s.NS
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		Run(t, "ip", "-n", s.NS, "link", "set", "lo", "up")
	}
	Run(t, "ip", "link", "add", "eth0", "netns", l.HQ.NS, "type", "veth", "peer", "name", "eth0", "netns", l.Remote.NS)
	for _, x := range []struct {
		s    *Site
		peer string
	}{{l.HQ, "203.0.113.0/24"}, {l.Remote, "198.51.100.0/24"}} {
		Run(t, "ip", "-n", x.s.NS, "addr", "add", x.s.Addr+"/24", "dev", "eth0")
		Run(t, "ip", "-n", x.s.NS, "link", "set", "eth0", "up")
		Run(t, "ip", "-n", x.s.NS, "route", "add", x.peer, "dev", "eth0")
	}
	if o.GRE {
		for _, x := range []struct{ s, p *Site }{{l.HQ, l.Remote}, {l.Remote, l.HQ}} {
			Run(t, "ip", "-n", x.s.NS, "link", "add", "tun0", "type", "gre", "local", x.s.Addr, "remote", x.p.Addr, "ttl", "64")
			Run(t, "ip", "-n", x.s.NS, "link", "set", "tun0", "mtu", "1400", "up")
			Run(t, "ip", "-n", x.s.NS, "addr", "add", x.s.Tunnel+"/30", "dev", "tun0")
		}
	}
	for _, s := range l.Sites() {
		s.Cfg = LoadExample(t, s.Name+".cfg")
		s.running = &config.Config{}
		s.Logs = &syncBuffer{}
		logs := s.Logs
		d, err := ipsec.New(ipsec.Options{NetNS: s.NS, RunDir: s.RunDir, NoSystemCharon: true,
			Logf: func(f string, a ...any) { fmt.Fprintf(logs, f+"\n", a...) }})
		if err != nil {
			t.Fatal(err)
		}
		s.Drv = d
		s := s
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if t.Failed() {
				if st, err := s.Drv.Status(ctx); err == nil {
					var b strings.Builder
					_ = ipsec.RenderSA(&b, st)
					t.Logf("--- %s status ---\n%s", s.Name, b.String())
				}
				b, _ := os.ReadFile(filepath.Join(s.RunDir, "charon.log"))
				t.Logf("--- %s charon.log (end) ---\n%s", s.Name, Tail(string(b), 80))
				t.Logf("--- %s driver log ---\n%s", s.Name, s.Logs.String())
			}
			if err := s.Drv.StopCharon(ctx); err != nil {
				t.Errorf("%s: stopping charon: %v", s.Name, err)
			}
			s.Drv.Close()
		})
	}
	return l
}

// Sites returns hq and remote.
func (l *Lab) Sites() []*Site { return []*Site{l.HQ, l.Remote} }

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LoadExample parses a reference configuration (shared/examples).
func LoadExample(t testing.TB, name string) *config.Config {
	t.Helper()
	var src []byte
	var err error
	for _, dir := range []string{"/work/shared/examples", "../../../../shared/examples", "../../../shared/examples", "../../config/testdata", "../../../config/testdata"} {
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

// Apply commits `to` on the site through runtime.Apply, from the
// configuration it applied last.
func (s *Site) Apply(t testing.TB, to *config.Config) []runtime.Step {
	t.Helper()
	steps, err := s.TryApply(to, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: apply: %v", s.Name, err)
	}
	return steps
}

// TryApply is Apply returning the error.
func (s *Site) TryApply(to *config.Config, o runtime.Options) ([]runtime.Step, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runtime.Apply(ctx, []runtime.Driver{s.Drv}, s.running, to, o)
	if err != nil {
		return nil, err
	}
	s.running = to
	return res.Steps, nil
}

// Running is the configuration applied last.
func (s *Site) Running() *config.Config { return s.running }

// Status reads the driver's status.
func (s *Site) Status(t testing.TB) *ipsec.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.Drv.Status(ctx)
	if err != nil {
		t.Fatalf("%s: status: %v", s.Name, err)
	}
	return st
}

// WaitPeer polls the status until cond holds for the site's only peer.
func (s *Site) WaitPeer(t testing.TB, what string, timeout time.Duration, cond func(p *ipsec.PeerStatus) bool) *ipsec.PeerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *ipsec.Status
	var lastErr error
	for time.Now().Before(deadline) {
		// charon answers list-sas only when no IKE_SA is busy (a first
		// ESP install loads kernel modules): a slow answer is no failure.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		st, err := s.Drv.Status(ctx)
		cancel()
		if err != nil {
			lastErr = err
		} else {
			last = st
			if len(last.Peers) == 1 && cond(&last.Peers[0]) {
				return &last.Peers[0]
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	var b strings.Builder
	if last != nil {
		_ = ipsec.RenderSA(&b, last)
	}
	t.Fatalf("%s: timed out after %v waiting for %s (last error %v); status:\n%s", s.Name, timeout, what, lastErr, b.String())
	return nil
}

// Exec runs a command in the site's namespace.
func (s *Site) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", s.NS}, args...)...)
}

// WithPSK returns a copy of cfg whose only peer has another PSK.
func WithPSK(cfg *config.Config, psk string) *config.Config {
	c := cfg.Clone()
	c.Peers[0].PSK = psk
	return c
}

// AssertSecretHidden checks that secret appears in no process's command
// line or environment, in no file of the run directories, and that no
// file there is readable by others.
func AssertSecretHidden(t testing.TB, secret string, runDirs ...string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join(p, f))
			if err == nil && bytes.Contains(b, []byte(secret)) {
				comm, _ := os.ReadFile(filepath.Join(p, "comm"))
				t.Errorf("the PSK appears in %s/%s (%s)", p, f, strings.TrimSpace(string(comm)))
			}
		}
	}
	for _, dir := range runDirs {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Errorf("run directory: %v", err)
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read it", dir, fi.Mode().Perm())
		}
		_ = filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			info, err := de.Info()
			if err != nil {
				return nil
			}
			if info.Mode().IsRegular() {
				if info.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s has mode %v: others can read it", path, info.Mode().Perm())
				}
				b, _ := os.ReadFile(path)
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("the PSK appears in %s", path)
				}
			}
			return nil
		})
	}
}
