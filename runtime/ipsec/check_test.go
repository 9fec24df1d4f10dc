package ipsec

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/strongswan/govici/vici"

	"mboxsh/config"
)

// debianDefault is what Debian's strongswan-charon plugins give (no
// openssl): aes, sha1, sha2, md5, hmac, gmp.
var debianDefault = AlgorithmsFromPlugins(map[string]bool{"aes": true, "sha1": true, "sha2": true, "md5": true, "hmac": true, "gmp": true})

func issues(cfg *config.Config, algs Algorithms) (errs, warns []string) {
	for _, i := range CheckWith(cfg, algs) {
		if i.Warning {
			warns = append(warns, i.String())
		} else {
			errs = append(errs, i.String())
		}
	}
	return
}

func TestCheckReference(t *testing.T) {
	for _, f := range []string{"hq.cfg", "remote.cfg"} {
		errs, warns := issues(example(t, f), debianDefault)
		if len(errs)+len(warns) != 0 {
			t.Errorf("%s: %q %q", f, errs, warns)
		}
	}
}

func TestCheckFindings(t *testing.T) {
	base := example(t, "hq.cfg")
	for _, tc := range []struct {
		name      string
		mod       func(*config.Config)
		err, warn string
	}{
		{"short psk", func(c *config.Config) { c.Peers[0].PSK = "abc" }, "", "ipsec peer 203.0.113.2: warning: psk is shorter than 8 characters"},
		{"no psk", func(c *config.Config) { c.Peers[0].PSK = "" }, "no psk", ""},
		{"local not on an interface", func(c *config.Config) { c.Peers[0].Local = netip.MustParseAddr("192.0.2.7") }, "local 192.0.2.7 is not an address of any interface", ""},
		{"3DES without openssl", func(c *config.Config) { c.ESPPolicies[0].Encryption = "3DES" }, "ipsec esp-policy 10: error: 3des is not supported by the installed strongSwan", "weak algorithm"},
		{"ECP group without openssl", func(c *config.Config) { c.IKEPolicies[0].DHGroup = 19 }, "ecp256 is not supported", ""},
		{"unknown cipher", func(c *config.Config) { c.IKEPolicies[0].Encryption = "BLOWFISH" }, "unsupported encryption BLOWFISH", ""},
		{"unknown group", func(c *config.Config) { c.ESPPolicies[0].PFSGroup = 3 }, "unsupported DH group 3", ""},
		{"missing esp policy", func(c *config.Config) { c.Peers[0].ESPPolicy = 11 }, "esp-policy 11 does not exist", ""},
		{"rsa", func(c *config.Config) { c.IKEPolicies[0].Authentication = "rsa-sig" }, "authentication rsa-sig is not supported", ""},
		{"open responder", func(c *config.Config) { c.Peers[0].RemoteIP = "any" }, "", "responder only"},
	} {
		c := base.Clone()
		tc.mod(c)
		errs, warns := issues(c, debianDefault)
		if tc.err != "" && !strings.Contains(strings.Join(errs, "\n"), tc.err) {
			t.Errorf("%s: errors %q lack %q", tc.name, errs, tc.err)
		}
		if tc.err == "" && len(errs) != 0 {
			t.Errorf("%s: unexpected errors %q", tc.name, errs)
		}
		if tc.warn != "" && !strings.Contains(strings.Join(warns, "\n"), tc.warn) {
			t.Errorf("%s: warnings %q lack %q", tc.name, warns, tc.warn)
		}
	}
	// With openssl, 3DES and ECP are fine.
	withSSL := AlgorithmsFromPlugins(map[string]bool{"openssl": true})
	c := base.Clone()
	c.ESPPolicies[0].Encryption, c.IKEPolicies[0].DHGroup = "3DES", 19
	if errs, _ := issues(c, withSSL); len(errs) != 0 {
		t.Errorf("with openssl: %q", errs)
	}
}

func TestAlgorithmsFromVici(t *testing.T) {
	m := vici.NewMessage()
	enc := vici.NewMessage()
	_ = enc.Set("AES_CBC", "aes")
	integ := vici.NewMessage()
	_ = integ.Set("HMAC_SHA1_96", "hmac")
	dh := vici.NewMessage()
	_ = dh.Set("MODP_2048", "gmp")
	_ = m.Set("encryption", enc)
	_ = m.Set("integrity", integ)
	_ = m.Set("dh", dh)
	a := algorithmsFromVici(m)
	for _, tok := range []string{"aes128", "aes256", "sha1", "modp2048"} {
		if !a[tok] {
			t.Errorf("%s missing from %v", tok, a)
		}
	}
	if a["3des"] || a["ecp256"] {
		t.Errorf("extra algorithms %v", a)
	}
}
