package ipsec_test

// Tests against real charons in network namespaces on the development
// kernel. It has no ESP (CHILD_SAs fail to install with ENOSYS/
// EPROTONOSUPPORT) and no GRE, so these tests stop at the IKE_SA; the VM
// tests (vmtest/) cover CHILD_SAs, GRE and the wire.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	"mboxsh/runtime/ipsec"
	"mboxsh/runtime/ipsec/internal/ipseclab"
)

const ikeProposal = "AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048"

func ikeUp(p *ipsec.PeerStatus) bool { return p.State == "ESTABLISHED" }

func upBoth(t *testing.T, l *ipseclab.Lab) {
	t.Helper()
	l.HQ.Apply(t, l.HQ.Cfg)
	l.Remote.Apply(t, l.Remote.Cfg)
	for _, s := range l.Sites() {
		s.WaitPeer(t, "IKE_SA established", 30*time.Second, ikeUp)
	}
}

func TestHostIKE(t *testing.T) {
	// The run directories below /run exercise the bind of RunDir into
	// charon's private /run.
	dir := fmt.Sprintf("/run/%shost-%d", ipseclab.Prefix, os.Getpid())
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := ipseclab.New(t, ipseclab.Options{RunDir: dir})

	start := time.Now()
	steps := l.HQ.Apply(t, l.HQ.Cfg)
	if len(steps) != 1 || steps[0].Stmt != "ipsec start" {
		t.Fatalf("hq: steps %+v", steps)
	}
	t.Logf("hq commit (charon start + load): %v", time.Since(start))
	// hq is alone: it retries; the status says so.
	p := l.HQ.WaitPeer(t, "a reason while the peer is missing", 15*time.Second, func(p *ipsec.PeerStatus) bool {
		return p.Reason != nil && p.Reason.Code == ipsec.ReasonNoResponse
	})
	t.Logf("hq alone: %s", p.Reason.Text)

	start = time.Now()
	l.Remote.Apply(t, l.Remote.Cfg)
	for _, s := range l.Sites() {
		p := s.WaitPeer(t, "IKE_SA established", 30*time.Second, ikeUp)
		if p.Version != 2 || p.Proposal != ikeProposal || p.Auth != "PSK" {
			t.Errorf("%s: IKE_SA version %d proposal %q auth %s", s.Name, p.Version, p.Proposal, p.Auth)
		}
		// The development kernel has no ESP: the CHILD_SA cannot be
		// installed, and the status says why.
		if !p.Up() && p.Reason == nil {
			t.Errorf("%s: CHILD_SA not installed, and no reason: %+v", s.Name, p)
		}
	}
	t.Logf("IKE_SA up %v after the second commit", time.Since(start))
	st := l.HQ.Status(t)
	var b strings.Builder
	if err := ipsec.RenderStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	t.Logf("show ipsec status:\n%s", b.String())
	for _, want := range []string{"203.0.113.2 (203.0.113.2)", "ESTABLISHED", "198.51.100.2/32", "IKEv2(PSK)", "AES-128/SHA1", " Peers   : 1 established, 0 connecting"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show ipsec status lacks %q", want)
		}
	}
	b.Reset()
	ipsec.RenderSA(&b, st)
	t.Logf("show ipsec sa:\n%s", b.String())
	ipseclab.AssertSecretHidden(t, "Letmein99", l.HQ.RunDir, l.Remote.RunDir)
}

func TestHostPSKMismatch(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	upBoth(t, l)
	const wrong = "Wrong-Secret-77"
	steps := l.HQ.Apply(t, ipseclab.WithPSK(l.HQ.Cfg, wrong))
	if len(steps) != 2 {
		t.Fatalf("a PSK change should unload and load one peer, got %d steps", len(steps))
	}
	for _, s := range steps {
		if strings.Contains(s.Desc+s.Stmt, wrong) {
			t.Errorf("step shows the PSK: %s: %s", s.Stmt, s.Desc)
		}
	}
	authFailed := func(p *ipsec.PeerStatus) bool {
		return p.State != "ESTABLISHED" && p.Reason != nil && p.Reason.Code == ipsec.ReasonAuthFailed
	}
	for _, s := range l.Sites() {
		p := s.WaitPeer(t, "authentication failure", 30*time.Second, authFailed)
		t.Logf("%s: %s [%s]", s.Name, p.Reason.Text, p.Reason.Log)
	}
	// A new process (fresh driver, same run directory) knows the reason
	// from charon's log.
	fresh, err := ipsec.New(ipsec.Options{NetNS: l.HQ.NS, RunDir: l.HQ.RunDir, NoSystemCharon: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	st, err := fresh.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 1 || st.Peers[0].Reason == nil || st.Peers[0].Reason.Code != ipsec.ReasonAuthFailed {
		t.Errorf("fresh driver: status %+v", st.Peers)
	}
	ipseclab.AssertSecretHidden(t, wrong, l.HQ.RunDir, l.Remote.RunDir)
	ipseclab.AssertSecretHidden(t, "Letmein99", l.HQ.RunDir, l.Remote.RunDir)

	// Fixing the PSK brings the SA back, without touching remote.
	l.HQ.Apply(t, l.HQ.Cfg)
	for _, s := range l.Sites() {
		s.WaitPeer(t, "IKE_SA back up", 30*time.Second, ikeUp)
	}
}

func TestHostUnchangedKeepsSAs(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	upBoth(t, l)
	// Let the simultaneous initiations settle (the drivers delete duplicates).
	time.Sleep(2 * time.Second)
	before := l.HQ.WaitPeer(t, "one IKE_SA", 20*time.Second, func(p *ipsec.PeerStatus) bool { return ikeUp(p) && p.IKESAs == 1 })

	// The same configuration again: nothing to do.
	ctx := context.Background()
	steps, err := l.HQ.Drv.Plan(ctx, l.HQ.Running(), l.HQ.Cfg.Clone())
	if err != nil || len(steps) != 0 {
		t.Fatalf("unchanged plan: %d steps, %v", len(steps), err)
	}
	// A new mboxsh process plans from the empty configuration while charon
	// still runs this very connection: still nothing to do.
	fresh, err := ipsec.New(ipsec.Options{NetNS: l.HQ.NS, RunDir: l.HQ.RunDir, NoSystemCharon: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	steps, err = fresh.Plan(ctx, &config.Config{}, l.HQ.Cfg)
	if err != nil || len(steps) != 0 {
		t.Fatalf("fresh process plan: %d steps, %v", len(steps), err)
	}
	if drift, err := fresh.Drift(ctx, l.HQ.Cfg); err != nil || len(drift) != 0 {
		t.Errorf("drift %q, %v", drift, err)
	}
	// Another peer and a changed non-IPsec statement: only that peer loads.
	more := l.HQ.Cfg.Clone()
	more.Hostname = "hq2"
	extra := *more.Peers[0]
	extra.Name = "192.0.2.99"
	extra.Local = netipMust("198.51.100.2")
	extra.LocalNet, extra.RemoteNet = nil, nil
	more.Peers = append(more.Peers, &extra)
	steps = l.HQ.Apply(t, more)
	if len(steps) != 1 || !strings.Contains(steps[0].Desc, "mboxsh-192.0.2.99") {
		t.Fatalf("adding a peer: steps %+v", steps)
	}
	st := l.HQ.Status(t)
	var after *ipsec.PeerStatus
	for i := range st.Peers {
		if st.Peers[i].Peer == "203.0.113.2" {
			after = &st.Peers[i]
		}
	}
	if after == nil || after.SPIInit != before.SPIInit || after.SPIResp != before.SPIResp || !after.Established.Equal(before.Established) && after.Established.Sub(before.Established).Abs() > 2*time.Second {
		t.Errorf("the unchanged peer's IKE_SA changed: before %s/%s %v, after %+v", before.SPIInit, before.SPIResp, before.Established, after)
	}
	if drift, _ := l.HQ.Drv.Drift(ctx, l.HQ.Cfg); len(drift) != 1 || !strings.Contains(drift[0], "192.0.2.99") {
		t.Errorf("drift against the old configuration: %q", drift)
	}
}

func TestHostStopStartUndo(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	upBoth(t, l)

	stopped := l.HQ.Cfg.Clone()
	stopped.IPsec = config.IPsecStopped
	steps := l.HQ.Apply(t, stopped)
	if len(steps) != 1 || steps[0].Stmt != "ipsec stop" {
		t.Fatalf("ipsec stop: steps %+v", steps)
	}
	if st := l.HQ.Status(t); !st.Running || len(st.Peers) != 0 {
		t.Fatalf("after ipsec stop: running %v peers %+v", st.Running, st.Peers)
	}
	// remote saw the DELETE.
	l.Remote.WaitPeer(t, "remote's SA gone", 20*time.Second, func(p *ipsec.PeerStatus) bool { return p.State != "ESTABLISHED" })

	l.HQ.Apply(t, l.HQ.Cfg)
	l.HQ.WaitPeer(t, "IKE_SA after ipsec start", 30*time.Second, ikeUp)

	// A commit that fails after the peer was unloaded re-loads the
	// previous connection (the SA comes back).
	changed := ipseclab.WithPSK(l.HQ.Cfg, "Another-Secret-1")
	_, err := l.HQ.TryApply(changed, runtime.Options{BeforeStep: func(i int, s runtime.Step) error {
		if i == 1 {
			return errors.New("injected")
		}
		return nil
	}})
	var se *runtime.StepError
	if !errors.As(err, &se) || se.UndoErr != nil {
		t.Fatalf("expected a clean rollback, got %v", err)
	}
	for _, s := range l.Sites() {
		s.WaitPeer(t, "IKE_SA after rollback", 30*time.Second, ikeUp)
	}
}

func TestHostCharonRestart(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	upBoth(t, l)
	pid := charonPid(t, l.HQ)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// The driver that loaded the connections notices, restarts charon and
	// loads them again; the SA comes back.
	l.HQ.WaitPeer(t, "IKE_SA after charon was killed", 60*time.Second, func(p *ipsec.PeerStatus) bool {
		return ikeUp(p) && charonPid(t, l.HQ) != pid
	})
	t.Logf("charon restarted and SA back in %v", time.Since(start))
	if !strings.Contains(l.HQ.Logs.String(), "reloaded") {
		t.Errorf("driver log: %s", l.HQ.Logs.String())
	}
}

// charonPid finds the charon of a site among the processes of its netns.
func charonPid(t testing.TB, s *ipseclab.Site) int {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "pids", s.NS).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		fmt.Sscan(f, &pid)
		if exe, _ := os.Readlink(filepath.Join("/proc", f, "exe")); strings.HasSuffix(exe, "/charon") {
			return pid
		}
	}
	return 0
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestHostSystemCharon: a charon that already answers on the system socket
// from the appliance's namespace is used (and never stopped); one in
// another namespace is not.
func TestHostSystemCharon(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	// remote's driver starts "the system charon" of remote's namespace.
	l.Remote.Apply(t, l.Remote.Cfg)
	system := filepath.Join(l.Remote.RunDir, "charon.vici")

	other := t.TempDir()
	d, err := ipsec.New(ipsec.Options{NetNS: l.Remote.NS, RunDir: filepath.Join(other, "x"), SystemSocket: system})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	st, err := d.Status(ctx)
	if err != nil || !st.Running || st.Owned || d.SocketPath() != system || len(st.Peers) != 1 {
		t.Fatalf("system charon not used: running %v owned %v socket %q peers %d, %v", st.Running, st.Owned, d.SocketPath(), len(st.Peers), err)
	}
	if err := d.StopCharon(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Status(ctx); err != nil || !st.Running {
		t.Fatalf("StopCharon stopped a charon it does not own: %v", err)
	}

	// From hq's namespace that charon is foreign: the driver starts its own.
	h, err := ipsec.New(ipsec.Options{NetNS: l.HQ.NS, RunDir: filepath.Join(other, "hq"), SystemSocket: system})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		h.StopCharon(context.Background())
		h.Close()
	}()
	steps, err := h.Plan(ctx, &config.Config{}, l.HQ.Cfg)
	if err != nil || len(steps) != 1 {
		t.Fatalf("plan: %d steps, %v", len(steps), err)
	}
	if err := steps[0].Do(ctx); err != nil {
		t.Fatal(err)
	}
	if !h.OwnsCharon() || h.SocketPath() == system {
		t.Fatalf("hq uses %s (owned %v)", h.SocketPath(), h.OwnsCharon())
	}
}

func BenchmarkHostStatus(b *testing.B) {
	l := ipseclab.New(b, ipseclab.Options{})
	l.HQ.Apply(b, l.HQ.Cfg)
	l.Remote.Apply(b, l.Remote.Cfg)
	l.HQ.WaitPeer(b, "IKE_SA", 30*time.Second, ikeUp)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.HQ.Drv.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostCommitPeer measures a commit that changes one peer (unload,
// load) against a running charon.
func BenchmarkHostCommitPeer(b *testing.B) {
	l := ipseclab.New(b, ipseclab.Options{})
	l.HQ.Apply(b, l.HQ.Cfg)
	cfgs := []*config.Config{ipseclab.WithPSK(l.HQ.Cfg, "Another-Secret-1"), l.HQ.Cfg}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := l.HQ.TryApply(cfgs[i%2], runtime.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHostUnreachable: a peer no route leads to is reported unreachable.
func TestHostUnreachable(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	c := l.HQ.Cfg.Clone()
	c.Peers[0].Name = "209.0.0.1" // above hq's address: hq initiates
	c.Peers[0].LocalNet, c.Peers[0].RemoteNet = nil, nil
	l.HQ.Apply(t, c)
	p := l.HQ.WaitPeer(t, "unreachable", 20*time.Second, func(p *ipsec.PeerStatus) bool {
		return p.Reason != nil && p.Reason.Code == ipsec.ReasonUnreachable
	})
	t.Logf("%s [%s]", p.Reason.Text, p.Reason.Log)
}

// TestHostProposalMismatch: different IKE ciphers on the two ends.
func TestHostProposalMismatch(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	c := l.HQ.Cfg.Clone()
	c.IKEPolicies[0].Encryption = "AES-256"
	l.Remote.Apply(t, l.Remote.Cfg)
	l.HQ.Apply(t, c)
	for _, s := range l.Sites() {
		p := s.WaitPeer(t, "proposal mismatch", 20*time.Second, func(p *ipsec.PeerStatus) bool {
			return p.Reason != nil && p.Reason.Code == ipsec.ReasonProposalMismatch
		})
		t.Logf("%s: %s [%s]", s.Name, p.Reason.Text, p.Reason.Log)
	}
}

// BenchmarkHostPlanUnchanged: a commit that leaves IPsec alone still asks
// charon whether it has the connections (to re-assert lost ones).
func BenchmarkHostPlanUnchanged(b *testing.B) {
	l := ipseclab.New(b, ipseclab.Options{})
	l.HQ.Apply(b, l.HQ.Cfg)
	ctx := context.Background()
	for b.Loop() {
		if steps, err := l.HQ.Drv.Plan(ctx, l.HQ.Cfg, l.HQ.Cfg); err != nil || len(steps) != 0 {
			b.Fatal(steps, err)
		}
	}
}
