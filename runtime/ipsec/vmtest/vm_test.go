// Package vmtest runs the IPsec driver end to end in the vmlab VM (a
// Debian kernel with GRE and ESP): two appliances in two namespaces, GRE
// between their public addresses, protected by the CHILD_SA the driver
// negotiates from the reference configurations.
package vmtest

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"mboxsh/runtime/ipsec"
	"mboxsh/runtime/ipsec/internal/ipseclab"
	"mboxsh/test/vmlab"
)

func TestMain(m *testing.M) { vmlab.RunTestsInVM(m) }

const (
	ikeProposal = "AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048"
	psk         = "Letmein99"
)

func up(p *ipsec.PeerStatus) bool { return p.Up() }

// capture runs tcpdump in a namespace and collects its lines until stop.
type capture struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func startCapture(t *testing.T, s *ipseclab.Site, iface, filter string) *capture {
	t.Helper()
	args := []string{"netns", "exec", s.NS, "tcpdump", "-i", iface, "-n", "-l", "-p"}
	args = append(args, strings.Fields(filter)...)
	c := &capture{cmd: exec.Command("ip", args...), done: make(chan struct{})}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	t.Cleanup(func() { c.stop() })
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
	}()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		t.Fatal("tcpdump did not start listening")
	}
	return c
}

func (c *capture) count(match func(string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if match(l) {
			n++
		}
	}
	return n
}

func (c *capture) stop() []string {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		<-c.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func isESP(l string) bool { return strings.Contains(l, ": ESP(spi=") }

// ping sends n GRE-carried pings from one site's tunnel address to the
// other's and reports whether all were answered.
func ping(t *testing.T, from, to *ipseclab.Site, n int) (string, bool) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", from.NS, "ping", "-n", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "2", to.Tunnel).CombinedOutput()
	return string(out), err == nil
}

func childOf(t *testing.T, p *ipsec.PeerStatus) ipsec.ChildStatus {
	t.Helper()
	for _, c := range p.Children {
		if c.State == "INSTALLED" {
			return c
		}
	}
	t.Fatalf("peer %s has no installed CHILD_SA: %+v", p.Peer, p.Children)
	return ipsec.ChildStatus{}
}

func onlyChild(t *testing.T, st *ipsec.Status) ipsec.ChildStatus {
	t.Helper()
	if len(st.Peers) != 1 {
		t.Fatalf("want one peer, have %d", len(st.Peers))
	}
	return childOf(t, &st.Peers[0])
}

func TestVMGREOverIPsec(t *testing.T) {
	if !vmlab.InVM() {
		t.Fatal("runs in the VM only (TestMain boots it)")
	}
	l := ipseclab.New(t, ipseclab.Options{GRE: true})

	// The appliances are configured one after the other: hq first, while
	// remote does not answer yet.
	t0 := time.Now()
	l.HQ.Apply(t, l.HQ.Cfg)
	t.Logf("hq commit: %v", time.Since(t0))
	time.Sleep(time.Second)
	t1 := time.Now()
	l.Remote.Apply(t, l.Remote.Cfg)
	t.Logf("remote commit: %v", time.Since(t1))
	var peers [2]*ipsec.PeerStatus
	for i, s := range l.Sites() {
		peers[i] = s.WaitPeer(t, "IKE and CHILD SA up", 90*time.Second, up)
	}
	t.Logf("SAs up %v after the second commit", time.Since(t1))
	for i, s := range l.Sites() {
		p := peers[i]
		c := childOf(t, p)
		if p.Version != 2 || p.Proposal != ikeProposal {
			t.Errorf("%s: IKE_SA IKEv%d %s", s.Name, p.Version, p.Proposal)
		}
		if c.Mode != "TRANSPORT" || c.Protocol != "ESP" || c.Encryption != "AES_CBC-128" || c.Integrity != "HMAC_SHA1_96" {
			t.Errorf("%s: CHILD_SA %+v", s.Name, c)
		}
		if len(c.LocalTS) != 1 || !strings.HasPrefix(c.LocalTS[0], s.Addr+"/32[") || len(c.RemoteTS) != 1 {
			t.Errorf("%s: selectors %v <-> %v", s.Name, c.LocalTS, c.RemoteTS)
		}
	}
	// Let duplicate SAs from the simultaneous initiations settle.
	settle := func() {
		for _, s := range l.Sites() {
			s.WaitPeer(t, "a single IKE_SA and CHILD_SA", 60*time.Second, func(p *ipsec.PeerStatus) bool {
				return p.Up() && p.IKESAs == 1 && len(p.Children) == 1
			})
		}
	}
	settle()

	// GRE pings cross; the link carries ESP only.
	before := onlyChild(t, l.HQ.Status(t))
	capt := startCapture(t, l.Remote, "eth0", "ip")
	out, ok := ping(t, l.HQ, l.Remote, 5)
	if !ok {
		t.Fatalf("GRE ping failed:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for capt.count(isESP) < 10 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	lines := capt.stop()
	esp := 0
	for _, ln := range lines {
		switch {
		case isESP(ln):
			esp++
		case strings.Contains(ln, ".500: isakmp") || strings.Contains(ln, ".4500: "):
			// IKE (DPD, rekeying) is allowed on the wire
		default:
			t.Errorf("clear packet on the link: %s", ln)
		}
	}
	if esp < 10 {
		t.Errorf("captured %d ESP packets, want >= 10:\n%s", esp, strings.Join(lines, "\n"))
	}
	t.Logf("capture: %d lines, %d ESP", len(lines), esp)

	after := onlyChild(t, l.HQ.Status(t))
	if after.Counters != "kernel" || after.PacketsOut < before.PacketsOut+5 || after.PacketsIn < before.PacketsIn+5 || after.BytesOut <= before.BytesOut || after.BytesIn <= before.BytesIn {
		t.Errorf("counters did not grow by the pings: before %+v after %+v", before, after)
	}
	rst := l.Remote.Status(t)
	rc := childOf(t, &rst.Peers[0])
	if rc.Counters != "kernel" || rc.PacketsIn < 5 || rc.PacketsOut < 5 {
		t.Errorf("remote counters: %+v", rc)
	}
	if rc.SPIIn != after.SPIOut || rc.SPIOut != after.SPIIn {
		t.Errorf("SPIs do not pair: hq in/out %s/%s, remote in/out %s/%s", after.SPIIn, after.SPIOut, rc.SPIIn, rc.SPIOut)
	}
	var b strings.Builder
	st := l.HQ.Status(t)
	st.Gateway = "198.51.100.1"
	_ = ipsec.RenderStatus(&b, st)
	t.Logf("hq: show ipsec status\n%s", b.String())
	for _, want := range []string{"ESTABLISHED", "IKEv2(PSK)", "AES-128/SHA1", "198.51.100.2/32", "203.0.113.2/32", "Gateway: 198.51.100.1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show ipsec status lacks %q", want)
		}
	}
	b.Reset()
	_ = ipsec.RenderSA(&b, st)
	t.Logf("hq: show ipsec sa\n%s", b.String())

	// Re-applying the unchanged configuration changes nothing.
	if steps := l.HQ.Apply(t, l.HQ.Cfg.Clone()); len(steps) != 0 {
		t.Errorf("unchanged commit gave %d steps", len(steps))
	}
	same := onlyChild(t, l.HQ.Status(t))
	if same.SPIIn != after.SPIIn || same.SPIOut != after.SPIOut {
		t.Errorf("unchanged commit re-keyed: %s/%s -> %s/%s", after.SPIIn, after.SPIOut, same.SPIIn, same.SPIOut)
	}

	// A wrong PSK on one side brings the SA down, with the reason on both.
	const wrong = "Not-The-Psk-42"
	l.HQ.Apply(t, ipseclab.WithPSK(l.HQ.Cfg, wrong))
	for _, s := range l.Sites() {
		p := s.WaitPeer(t, "SA down with an authentication failure", 60*time.Second, func(p *ipsec.PeerStatus) bool {
			return !p.Up() && p.Reason != nil && p.Reason.Code == ipsec.ReasonAuthFailed
		})
		t.Logf("%s: down: %s", s.Name, p.Reason.Text)
	}
	if out, ok := ping(t, l.HQ, l.Remote, 2); ok {
		t.Errorf("GRE ping passed with the SA down:\n%s", out)
	}
	ipseclab.AssertSecretHidden(t, wrong, l.HQ.RunDir, l.Remote.RunDir)

	// Fixing it brings the SA back, and traffic with it.
	t2 := time.Now()
	l.HQ.Apply(t, l.HQ.Cfg)
	for _, s := range l.Sites() {
		s.WaitPeer(t, "SA back up", 90*time.Second, up)
	}
	t.Logf("SA back %v after the fix", time.Since(t2))
	if out, ok := ping(t, l.HQ, l.Remote, 3); !ok {
		t.Errorf("GRE ping after the fix failed:\n%s", out)
	}
	ipseclab.AssertSecretHidden(t, psk, l.HQ.RunDir, l.Remote.RunDir)
	for _, s := range l.Sites() {
		logs := s.Logs.String()
		if strings.Contains(logs, psk) || strings.Contains(logs, wrong) {
			t.Errorf("%s: the driver logged a PSK", s.Name)
		}
		t.Logf("%s driver log:\n%s", s.Name, logs)
	}
}

// TestVMPeerAppearsLater: hq is configured long before remote; the SA
// comes up by itself once remote is there (retries, no second commit).
func TestVMPeerAppearsLater(t *testing.T) {
	if !vmlab.InVM() {
		t.Fatal("runs in the VM only (TestMain boots it)")
	}
	l := ipseclab.New(t, ipseclab.Options{GRE: true})
	l.HQ.Apply(t, l.HQ.Cfg)
	l.HQ.WaitPeer(t, "hq reports no response", 60*time.Second, func(p *ipsec.PeerStatus) bool {
		return p.Reason != nil && p.Reason.Code == ipsec.ReasonNoResponse
	})
	// remote's charon answers but remote has no connection yet: hq is
	// refused, and keeps trying.
	time.Sleep(5 * time.Second)
	t0 := time.Now()
	l.Remote.Apply(t, l.Remote.Cfg)
	for _, s := range l.Sites() {
		s.WaitPeer(t, "SA up", 120*time.Second, up)
	}
	t.Logf("SA up %v after remote's commit", time.Since(t0))
	if out, ok := ping(t, l.HQ, l.Remote, 3); !ok {
		t.Errorf("GRE ping failed:\n%s", out)
	}
}
