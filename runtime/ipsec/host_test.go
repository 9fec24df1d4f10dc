package ipsec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostIKE runs on the development kernel (no ESP, no GRE): two
// charons in two namespaces negotiate the IKE_SA of the reference
// configurations; the CHILD_SA may fail to install (ENOSYS), which the
// status must explain.
func TestHostIKE(t *testing.T) {
	if os.Getenv("MBOXSH_IN_VM") == "1" {
		t.Skip("host variant; the VM runs TestVM*")
	}
	l := newLab(t, false)
	l.hq.apply(t, l.hq.cfg)
	l.remote.apply(t, l.remote.cfg)
	for _, s := range []*site{l.hq, l.remote} {
		p := s.waitPeer(t, "IKE_SA established", 30*time.Second, func(p *PeerStatus) bool { return p.State == "ESTABLISHED" })
		var b strings.Builder
		RenderSA(&b, s.status(t))
		t.Logf("%s:\n%s", s.name, b.String())
		if p.Version != 2 || !strings.Contains(p.Proposal, "AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048") {
			t.Errorf("%s: IKE_SA version %d proposal %q", s.name, p.Version, p.Proposal)
		}
	}
	b, _ := os.ReadFile(filepath.Join(l.hq.runDir, "charon.log"))
	t.Logf("hq charon.log:\n%s", tail(string(b), 80))
}
