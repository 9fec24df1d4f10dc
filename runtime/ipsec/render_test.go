package ipsec

import (
	"strings"
	"testing"
	"time"
)

// The vendor's `show ipsec status` (grammar-reference §7.3, l2vpn-hs.md
// code block #2), byte for byte without the prompt lines.
const vendorStatus = `================================================================================
 IPSec Status
 Uptime  : 8 minutes, since Apr 24 12:47:41 2026
 Local   : 10.65.31.56, Gateway: 10.0.0.1
 Peers   : 2 established, 0 connecting
================================================================================

Peer                                State          Local Net         Remote Net             Tx       Rx  Uptime      IKE(Auth)    ESP
------------------------------------------------------------------------------------------------------------------------------------------------
b0-bb-8b-00-32-e0 (61.13.198.166)   ESTABLISHED    10.1.168.1/32     10.1.168.2/32          0B     816B  8 minutes   IKEv2(PSK)   AES-256/SHA256
b0-bb-8b-00-34-80 (61.13.198.166)   ESTABLISHED    10.1.168.1/32     10.1.168.3/32          0B     816B  8 minutes   IKEv2(PSK)   AES-256/SHA256

`

func TestRenderStatusVendor(t *testing.T) {
	since := time.Date(2026, 4, 24, 12, 47, 41, 0, time.Local)
	now := since.Add(8*time.Minute + 20*time.Second)
	peer := func(name, remote string) PeerStatus {
		return PeerStatus{
			Peer: name, State: "ESTABLISHED", Version: 2, Auth: "PSK",
			LocalAddr: "10.65.31.56", RemoteAddr: "61.13.198.166",
			LocalNets: []string{"10.1.168.1/32"}, RemoteNets: []string{remote},
			Established: since.Add(10 * time.Second),
			Children:    []ChildStatus{{State: "INSTALLED", Encryption: "AES_CBC-256", Integrity: "HMAC_SHA2_256_128", BytesIn: 816}},
		}
	}
	st := &Status{Running: true, Since: since, Now: now, Gateway: "10.0.0.1", Peers: []PeerStatus{
		peer("b0-bb-8b-00-32-e0", "10.1.168.2/32"), peer("b0-bb-8b-00-34-80", "10.1.168.3/32"),
	}}
	var b strings.Builder
	if err := RenderStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	if b.String() != vendorStatus {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), vendorStatus)
		gl, wl := strings.Split(b.String(), "\n"), strings.Split(vendorStatus, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Errorf("line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
			}
		}
	}
}

func TestRenderStatusDownAndStopped(t *testing.T) {
	now := time.Now()
	st := &Status{Running: true, Since: now.Add(-3 * time.Hour), Now: now, Peers: []PeerStatus{{
		Peer: "203.0.113.2", State: "DOWN", Auth: "PSK", Version: 2, RemoteAddr: "203.0.113.2",
		LocalNets: []string{"198.51.100.2/32[47]"}, RemoteNets: []string{"203.0.113.2/32[47]"}, ESP: "aes128-sha1-modp2048",
		Reason: &Reason{Code: ReasonAuthFailed, Text: "authentication failed: pre-shared key mismatch", At: now.Add(-time.Minute), Log: "tried 1 shared key"},
	}}}
	var b strings.Builder
	RenderStatus(&b, st)
	for _, want := range []string{" Uptime  : 3 hours, since ", "0 established, 0 connecting",
		"203.0.113.2 (203.0.113.2)           DOWN           198.51.100.2/32   203.0.113.2/32         0B       0B  -           IKEv2(PSK)   AES-128/SHA1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	RenderSA(&b, st)
	for _, want := range []string{"IKE SA: DOWN", "not up: authentication failed: pre-shared key mismatch (60 seconds ago)", "charon: tried 1 shared key"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show ipsec sa lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	RenderStatus(&b, &Status{Now: now})
	if !strings.Contains(b.String(), "Uptime  : not running") {
		t.Errorf("stopped:\n%s", b.String())
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 seconds", time.Second: "1 second", 120 * time.Second: "120 seconds", 121 * time.Second: "2 minutes",
		8 * time.Minute: "8 minutes", 3 * time.Hour: "3 hours", 47 * time.Hour: "47 hours", 49 * time.Hour: "2 days", 72 * time.Hour: "3 days",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[uint64]string{0: "0B", 816: "816B", 2048: "2.0KB", 5 << 20: "5.0MB", 3 << 30: "3.0GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for in, want := range map[[2]string]string{
		{"AES_CBC-256", "HMAC_SHA2_256_128"}: "AES-256/SHA256",
		{"AES_CBC-128", "HMAC_SHA1_96"}:      "AES-128/SHA1",
		{"3DES_CBC", "HMAC_MD5_96"}:          "3DES/MD5",
		{"AES_GCM_16-256", ""}:               "AES_GCM_16-256",
	} {
		if got := espName(in[0], in[1]); got != want {
			t.Errorf("espName%v = %q, want %q", in, got, want)
		}
	}
}
