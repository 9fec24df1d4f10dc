package ipsec

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/strongswan/govici/vici"

	"mboxsh/config"
)

// Issue is one finding of Check.
type Issue struct {
	Stmt    string `json:"stmt"` // "ipsec peer 203.0.113.2", "ipsec ike-policy 10"
	Msg     string `json:"msg"`
	Warning bool   `json:"warning"` // false: the commit must be refused
}

func (i Issue) String() string {
	kind := "error"
	if i.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s: %s", i.Stmt, kind, i.Msg)
}

// Algorithms is the set of algorithms charon can use, by strongSwan
// proposal token (aes128, sha256, modp2048, …).
type Algorithms map[string]bool

// Check validates the IPsec part of cfg for `commit check`: peers whose
// policies name algorithms that are unknown or that the installed
// strongSwan cannot do are rejected, as are missing policies, a missing
// PSK and a `local` address that is on no interface of the configuration;
// a PSK shorter than 8 characters draws a warning. It asks a running
// charon for its algorithms (get-algorithms) and otherwise looks at the
// installed plugins; it never starts charon.
func (d *Driver) Check(ctx context.Context, cfg *config.Config) []Issue {
	issues := CheckWith(cfg, d.Algorithms(ctx))
	if cfg.IPsec == config.IPsecStarted && len(cfg.Peers) > 0 && !d.connectExisting(ctx) {
		if _, err := os.Stat(d.opts.Charon); err != nil {
			issues = append(issues, Issue{Stmt: "ipsec start", Msg: ErrNotInstalled.Error()})
		}
	}
	return issues
}

// Algorithms returns what the charon in use supports, or, when none runs,
// what the installed plugins provide.
func (d *Driver) Algorithms(ctx context.Context) Algorithms {
	if d.connectExisting(ctx) {
		if m, err := d.cl.call(ctx, "get-algorithms", nil); err == nil {
			if a := algorithmsFromVici(m); len(a) > 0 {
				return a
			}
		}
	}
	return AlgorithmsFromPlugins(installedPlugins(d.opts.PluginDir))
}

// charonAlg maps charon's algorithm names (get-algorithms) to tokens.
var charonAlg = map[string][]string{
	"AES_CBC":           {"aes128", "aes192", "aes256"},
	"3DES_CBC":          {"3des"},
	"HMAC_MD5_96":       {"md5"},
	"HMAC_SHA1_96":      {"sha1"},
	"HMAC_SHA2_256_128": {"sha256"},
	"HMAC_SHA2_384_192": {"sha384"},
	"HMAC_SHA2_512_256": {"sha512"},
	"MODP_768":          {"modp768"},
	"MODP_1024":         {"modp1024"},
	"MODP_1536":         {"modp1536"},
	"MODP_2048":         {"modp2048"},
	"MODP_3072":         {"modp3072"},
	"MODP_4096":         {"modp4096"},
	"MODP_6144":         {"modp6144"},
	"MODP_8192":         {"modp8192"},
	"MODP_1024_160":     {"modp1024s160"},
	"MODP_2048_224":     {"modp2048s224"},
	"MODP_2048_256":     {"modp2048s256"},
	"ECP_192":           {"ecp192"},
	"ECP_224":           {"ecp224"},
	"ECP_256":           {"ecp256"},
	"ECP_384":           {"ecp384"},
	"ECP_521":           {"ecp521"},
	"ECP_224_BP":        {"ecp224bp"},
	"ECP_256_BP":        {"ecp256bp"},
	"ECP_384_BP":        {"ecp384bp"},
	"ECP_512_BP":        {"ecp512bp"},
	"CURVE_25519":       {"curve25519"},
	"CURVE_448":         {"curve448"},
}

func algorithmsFromVici(m *vici.Message) Algorithms {
	out := Algorithms{}
	for _, sect := range []string{"encryption", "integrity", "ke", "dh"} {
		s, _ := m.Get(sect).(*vici.Message)
		if s == nil {
			continue
		}
		for _, k := range s.Keys() {
			for _, t := range charonAlg[k] {
				out[t] = true
			}
		}
	}
	return out
}

// AlgorithmsFromPlugins tells what a charon loading mboxsh's plugin list
// can do with the plugins installed.
func AlgorithmsFromPlugins(p map[string]bool) Algorithms {
	anyOf := func(names ...string) bool {
		for _, n := range names {
			if p[n] {
				return true
			}
		}
		return false
	}
	out := Algorithms{}
	set := func(ok bool, toks ...string) {
		if ok {
			for _, t := range toks {
				out[t] = true
			}
		}
	}
	hmac := anyOf("hmac", "openssl")
	set(anyOf("aes", "openssl"), "aes128", "aes192", "aes256")
	set(anyOf("des", "openssl"), "3des")
	set(hmac && anyOf("md5", "openssl"), "md5")
	set(hmac && anyOf("sha1", "openssl"), "sha1")
	set(hmac && anyOf("sha2", "openssl"), "sha256", "sha384", "sha512")
	set(anyOf("gmp", "openssl"), "modp768", "modp1024", "modp1536", "modp2048", "modp3072",
		"modp4096", "modp6144", "modp8192", "modp1024s160", "modp2048s224", "modp2048s256")
	set(p["openssl"], "ecp192", "ecp224", "ecp256", "ecp384", "ecp521",
		"ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "curve448")
	set(anyOf("curve25519", "openssl"), "curve25519")
	return out
}

// CheckWith is Check against a given set of supported algorithms.
func CheckWith(cfg *config.Config, algs Algorithms) []Issue {
	var out []Issue
	add := func(stmt string, warn bool, f string, a ...any) {
		out = append(out, Issue{Stmt: stmt, Msg: fmt.Sprintf(f, a...), Warning: warn})
	}
	used := map[string]bool{}
	checkPolicy := func(stmt, enc, hash string, group int, needGroup bool) {
		if enc == "" {
			return
		}
		tokens := []string{}
		e, ok := encryption[strings.ToUpper(enc)]
		if !ok {
			add(stmt, false, "unsupported encryption %s (AES, AES-192, AES-256, 3DES)", enc)
		} else {
			tokens = append(tokens, e)
		}
		h, ok := integrity[strings.ToUpper(hash)]
		if !ok {
			add(stmt, false, "unsupported hash %s (MD5, SHA, SHA-256, SHA-512)", hash)
		} else {
			tokens = append(tokens, h)
		}
		switch g, ok := dhGroups[group]; {
		case group == 0 && needGroup:
			add(stmt, false, "a DH group is required")
		case group == 0:
		case !ok:
			add(stmt, false, "unsupported DH group %d", group)
		default:
			tokens = append(tokens, g)
		}
		if algs == nil {
			return
		}
		for _, t := range tokens {
			if !algs[t] {
				add(stmt, false, "%s is not supported by the installed strongSwan (its crypto plugins lack it; libstrongswan-standard-plugins adds openssl)", t)
			}
		}
		if e == "3des" || h == "md5" || group == 1 || group == 2 || group == 5 || group == 22 {
			add(stmt, true, "weak algorithm in policy %s %s %d", enc, hash, group)
		}
	}
	for _, p := range cfg.IKEPolicies {
		stmt := fmt.Sprintf("ipsec ike-policy %d", p.Number)
		if p.Authentication != "" && !strings.EqualFold(p.Authentication, "psk") {
			add(stmt, false, "authentication %s is not supported (psk only)", p.Authentication)
		}
		if p.Version != 0 && p.Version != 1 && p.Version != 2 {
			add(stmt, false, "IKE version %d does not exist (1 or 2)", p.Version)
		}
		checkPolicy(stmt, p.Encryption, p.Hash, p.DHGroup, true)
		if p.Keylife != 0 && p.Keylife < 120 {
			add(stmt, true, "keylife %d s is very short", p.Keylife)
		}
	}
	for _, p := range cfg.ESPPolicies {
		stmt := fmt.Sprintf("ipsec esp-policy %d", p.Number)
		checkPolicy(stmt, p.Encryption, p.Hash, p.PFSGroup, false)
		if p.Keylife != 0 && p.Keylife < 120 {
			add(stmt, true, "keylife %d s is very short", p.Keylife)
		}
	}
	local := map[string]bool{}
	for _, i := range cfg.Interfaces {
		for _, a := range i.Addresses {
			local[a.Addr().String()] = true
		}
	}
	for _, p := range cfg.Peers {
		stmt := "ipsec peer " + p.Name
		if used[p.Name] {
			add(stmt, false, "configured twice")
		}
		used[p.Name] = true
		if p.IKEPolicy != 0 && cfg.IKEPolicy(p.IKEPolicy) == nil {
			add(stmt, false, "ike-policy %d does not exist", p.IKEPolicy)
		}
		if p.ESPPolicy != 0 && cfg.ESPPolicy(p.ESPPolicy) == nil {
			add(stmt, false, "esp-policy %d does not exist", p.ESPPolicy)
		}
		if p.IKEPolicy == 0 {
			add(stmt, true, "no `policy ike N esp M`: strongSwan's default proposals are used")
		}
		switch {
		case p.PSK == "":
			add(stmt, false, "no psk: only pre-shared key authentication is supported")
		case len(p.PSK) < 8:
			add(stmt, true, "psk is shorter than 8 characters")
		}
		if p.Local.IsValid() && !local[p.Local.String()] {
			add(stmt, false, "local %s is not an address of any interface", p.Local)
		}
		if _, ok := p.RemoteAddress(); !ok && p.RemoteID == "" {
			add(stmt, true, "responder only, and without remote-id any peer that knows the psk is accepted")
		}
		if strings.ContainsAny(p.Name, " \t\n\"'") {
			add(stmt, false, "peer name may not contain spaces or quotes")
		}
		if s, err := buildSpec(cfg, p); err == nil {
			for _, ch := range s.Conn.Children {
				if ch.Mode == "tunnel" && s.GRE {
					add(stmt, true, "GRE is protected in tunnel mode: the IKE endpoints are not the GRE endpoints")
				}
			}
		}
	}
	return out
}
