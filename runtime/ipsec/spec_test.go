package ipsec

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mboxsh/config"
)

func example(t testing.TB, name string) *config.Config {
	t.Helper()
	var src []byte
	var err error
	for _, dir := range []string{"/work/shared/examples", "../../../shared/examples", "../../config/testdata"} {
		if src, err = os.ReadFile(filepath.Join(dir, name)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("reference configuration %s: %v", name, err)
	}
	cfg, err := config.Parse(src, name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func oneSpec(t *testing.T, cfg *config.Config) *connSpec {
	t.Helper()
	specs, err := buildSpecs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d specs", len(specs))
	}
	return specs[0]
}

func TestSpecReference(t *testing.T) {
	for _, tc := range []struct {
		file, peer, local, remote string
		start                     string
	}{
		{"hq.cfg", "203.0.113.2", "198.51.100.2", "203.0.113.2", "trap|start"},
		{"remote.cfg", "198.51.100.2", "203.0.113.2", "198.51.100.2", "trap"},
	} {
		s := oneSpec(t, example(t, tc.file))
		want := viciConn{
			LocalAddrs:  []string{tc.local},
			RemoteAddrs: []string{tc.remote},
			Version:     "2",
			Proposals:   []string{"aes128-sha1-modp2048"},
			RekeyTime:   "25920s",
			OverTime:    "2880s",
			DPDDelay:    "30s",
			KeyingTries: "0",
			Unique:      "never",
			Mobike:      "no",
			Local:       viciAuth{Auth: "psk"},
			Remote:      viciAuth{Auth: "psk", ID: tc.remote},
			Children: map[string]viciChild{"mboxsh-" + tc.peer: {
				LocalTS:      []string{tc.local + "/32[47]"},
				RemoteTS:     []string{tc.remote + "/32[47]"},
				ESPProposals: []string{"aes128-sha1-modp2048"},
				Mode:         "transport",
				RekeyTime:    "3240s",
				LifeTime:     "3600s",
				StartAction:  tc.start,
				DPDAction:    "restart",
			}},
		}
		if !reflect.DeepEqual(s.Conn, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, s.Conn, want)
		}
		if s.Name != "mboxsh-"+tc.peer || s.PSK != "Letmein99" || !s.GRE || s.Responder || !reflect.DeepEqual(s.Owners, []string{tc.remote}) {
			t.Errorf("%s: spec %+v", tc.file, s)
		}
		if strings.Contains(s.summary(), "Letmein99") {
			t.Errorf("summary shows the PSK")
		}
	}
}

func TestSpecVariants(t *testing.T) {
	base := example(t, "hq.cfg")
	t.Run("tunnel mode between nets", func(t *testing.T) {
		c := base.Clone()
		c.Peers[0].LocalNet = []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")}
		c.Peers[0].RemoteNet = []netip.Prefix{netip.MustParsePrefix("192.168.20.1/24"), netip.MustParsePrefix("10.9.0.0/16")}
		s := oneSpec(t, c)
		ch := s.Conn.Children["mboxsh-203.0.113.2"]
		if s.GRE || ch.Mode != "tunnel" || !reflect.DeepEqual(ch.LocalTS, []string{"192.168.10.0/24"}) ||
			!reflect.DeepEqual(ch.RemoteTS, []string{"192.168.20.0/24", "10.9.0.0/16"}) {
			t.Errorf("child %+v", ch)
		}
	})
	t.Run("GRE between loopbacks is tunnel mode, GRE only", func(t *testing.T) {
		c := base.Clone()
		c.Interface("tun0").TunnelLocal = netip.MustParseAddr("10.1.168.1")
		c.Interface("tun0").TunnelRemote = netip.MustParseAddr("10.1.168.2")
		c.Peers[0].LocalNet = []netip.Prefix{netip.MustParsePrefix("10.1.168.1/32")}
		c.Peers[0].RemoteNet = []netip.Prefix{netip.MustParsePrefix("10.1.168.2/32")}
		s := oneSpec(t, c)
		ch := s.Conn.Children["mboxsh-203.0.113.2"]
		if !s.GRE || ch.Mode != "tunnel" || ch.LocalTS[0] != "10.1.168.1/32[47]" || ch.RemoteTS[0] != "10.1.168.2/32[47]" {
			t.Errorf("child %+v", ch)
		}
	})
	t.Run("no GRE interface: plain /32 tunnel", func(t *testing.T) {
		c := base.Clone()
		c.Interfaces = nil
		ch := oneSpec(t, c).Conn.Children["mboxsh-203.0.113.2"]
		if ch.Mode != "tunnel" || ch.LocalTS[0] != "198.51.100.2/32" {
			t.Errorf("child %+v", ch)
		}
	})
	t.Run("responder hub with remote-id", func(t *testing.T) {
		c := base.Clone()
		p := c.Peers[0]
		p.Name, p.RemoteIP, p.RemoteID = "b0-bb-8b-00-32-e0", "any", "b0-bb-8b-00-32-e0"
		s := oneSpec(t, c)
		ch := s.Conn.Children["mboxsh-b0-bb-8b-00-32-e0"]
		if !s.Responder || s.Conn.RemoteAddrs[0] != "%any" || s.Conn.KeyingTries != "" || ch.StartAction != "none" ||
			s.Conn.Remote.ID != "b0-bb-8b-00-32-e0" || s.Owners[0] != "b0-bb-8b-00-32-e0" {
			t.Errorf("spec %+v", s)
		}
	})
	t.Run("IKEv1, AES-256 SHA-512 group 5, no PFS, two nets", func(t *testing.T) {
		c := base.Clone()
		ike, esp := c.IKEPolicies[0], c.ESPPolicies[0]
		ike.Version, ike.Encryption, ike.Hash, ike.DHGroup, ike.Keylife = 1, "AES-256", "SHA-512", 5, 0
		esp.Encryption, esp.Hash, esp.PFSGroup, esp.Keylife = "3DES", "MD5", 0, 0
		c.Peers[0].LocalNet = append(c.Peers[0].LocalNet, netip.MustParsePrefix("10.0.0.0/8"))
		s := oneSpec(t, c)
		if s.Conn.Version != "1" || s.Conn.Proposals[0] != "aes256-sha512-modp1536" || s.Conn.RekeyTime != "" || len(s.Conn.Children) != 2 {
			t.Fatalf("spec %+v", s.Conn)
		}
		for _, ch := range s.Conn.Children {
			if ch.ESPProposals[0] != "3des-md5" || len(ch.LocalTS) != 1 || ch.LifeTime != "" {
				t.Errorf("child %+v", ch)
			}
		}
	})
	t.Run("not started: nothing", func(t *testing.T) {
		for _, st := range []config.IPsecService{config.IPsecUnset, config.IPsecStopped} {
			c := base.Clone()
			c.IPsec = st
			if specs, err := buildSpecs(c); err != nil || len(specs) != 0 {
				t.Errorf("%v: %v %v", st, specs, err)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for name, mod := range map[string]func(*config.Config){
			"missing policy": func(c *config.Config) { c.Peers[0].IKEPolicy = 99 },
			"bad cipher":     func(c *config.Config) { c.IKEPolicies[0].Encryption = "DES" },
			"no psk":         func(c *config.Config) { c.Peers[0].PSK = "" },
			"bad group":      func(c *config.Config) { c.ESPPolicies[0].PFSGroup = 3 },
		} {
			c := base.Clone()
			mod(c)
			if _, err := buildSpecs(c); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}

func TestSpecEqualAndFingerprint(t *testing.T) {
	a := oneSpec(t, example(t, "hq.cfg"))
	b := oneSpec(t, example(t, "hq.cfg"))
	key := []byte("k")
	if !a.equal(b) || a.fingerprint(key) != b.fingerprint(key) {
		t.Fatal("identical configurations differ")
	}
	c := example(t, "hq.cfg")
	c.Peers[0].PSK = "other-psk"
	d := oneSpec(t, c)
	if a.equal(d) || a.fingerprint(key) == d.fingerprint(key) {
		t.Fatal("a PSK change is not a change")
	}
	if strings.Contains(d.fingerprint(key), "other-psk") {
		t.Fatal("fingerprint holds the PSK")
	}
	// A change elsewhere (hostname, routes) is no change to the peer.
	e := example(t, "hq.cfg")
	e.Hostname = "x"
	e.Routes = nil
	if !a.equal(oneSpec(t, e)) {
		t.Fatal("unrelated change changed the peer")
	}
}

func TestStrongswanConf(t *testing.T) {
	conf := strongswanConf("/run/x/ipsec", map[string]bool{"aes": true, "sha1": true, "vici": true, "bypass-lan": true, "stroke": true, "kernel-netlink": true})
	for _, want := range []string{"load = aes sha1 kernel-netlink vici", "install_routes = no", "socket = unix:///run/x/ipsec/charon.vici", "default = 1", "time_format = %F %T"} {
		if !strings.Contains(conf, want) {
			t.Errorf("strongswan.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, bad := range []string{"bypass-lan", "stroke"} {
		if strings.Contains(conf, bad) {
			t.Errorf("strongswan.conf loads %s", bad)
		}
	}
}

func BenchmarkBuildSpecs(b *testing.B) {
	cfg := example(b, "hq.cfg")
	for b.Loop() {
		specs, err := buildSpecs(cfg)
		if err != nil || len(specs) != 1 || !specs[0].equal(specs[0]) {
			b.Fatal(specs, err)
		}
	}
}

func TestNotInstalled(t *testing.T) {
	d, err := New(Options{RunDir: t.TempDir(), Charon: "/nonexistent/charon", NoSystemCharon: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := example(t, "hq.cfg")
	steps, err := d.Plan(t.Context(), &config.Config{}, cfg)
	if err != nil || len(steps) != 1 {
		t.Fatalf("plan: %v %v", steps, err)
	}
	err = steps[0].Do(t.Context())
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "strongSwan is not installed") {
		t.Fatalf("Do: %v", err)
	}
	var found bool
	for _, i := range d.Check(t.Context(), cfg) {
		found = found || (!i.Warning && strings.Contains(i.Msg, "not installed"))
	}
	if !found {
		t.Error("Check does not say strongSwan is missing")
	}
	// Status without charon: not running, nothing loaded, no error.
	st, err := d.Status(t.Context())
	if err != nil || st.Running || len(st.Peers) != 0 {
		t.Errorf("status %+v %v", st, err)
	}
}
