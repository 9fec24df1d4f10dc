package ipsec_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mboxsh/runtime/ipsec/internal/ipseclab"
)

func TestZZUnreachable(t *testing.T) {
	l := ipseclab.New(t, ipseclab.Options{})
	c := l.HQ.Cfg.Clone()
	c.Peers[0].Name = "209.0.0.1"
	c.Peers[0].LocalNet, c.Peers[0].RemoteNet = nil, nil
	_ = netip.Addr{}
	l.HQ.Apply(t, c)
	time.Sleep(8 * time.Second)
	st := l.HQ.Status(t)
	t.Logf("%+v", st.Peers[0].Reason)
	b, _ := os.ReadFile(filepath.Join(l.HQ.RunDir, "charon.log"))
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, "192.0.2") || strings.Contains(ln, "[NET]") || strings.Contains(ln, "[KNL]") || strings.Contains(ln, "[IKE]") {
			t.Log(ln)
		}
	}
}
