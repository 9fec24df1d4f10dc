package config

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "test.cfg")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return cfg
}

// The file format is forgiving: any indentation (or none), blank lines,
// `!` and `!comment` lines, CRLF line ends, a missing final newline.
func TestParseLayout(t *testing.T) {
	want := cfgText(
		"hostname hq", "!",
		"interface eth0", ` description "Connection to WAN"`, " enable", " ip address 198.51.100.2/24", "!",
		"interface tun0", " tunnel local 198.51.100.2 remote 203.0.113.2", " mtu 1400", "!",
		"ip route 192.168.20.0/24 nexthop 172.16.0.2", "!",
		"ipsec peer 203.0.113.2", " psk Letmein99", "!")
	for name, src := range map[string]string{
		"canonical": want,
		"two spaces": "hostname hq\n!\ninterface eth0\n  description \"Connection to WAN\"\n  enable\n  ip address 198.51.100.2/24\n" +
			"!\ninterface tun0\n  tunnel local 198.51.100.2 remote 203.0.113.2\n  mtu 1400\n!\nip route 192.168.20.0/24 nexthop 172.16.0.2\n" +
			"ipsec peer 203.0.113.2\n  psk Letmein99\n",
		"tabs and blank lines": "\n\nhostname hq\n\ninterface eth0\n\tdescription \"Connection to WAN\"\n\n\tenable\n\t\tip address 198.51.100.2/24\n" +
			"interface tun0\n\ttunnel local 198.51.100.2 remote 203.0.113.2\n \t mtu 1400\n\n" +
			"ip route 192.168.20.0/24 nexthop 172.16.0.2\nipsec peer 203.0.113.2\n\tpsk Letmein99\n\n\n",
		"no indentation, no separators": "hostname hq\ninterface eth0\ndescription \"Connection to WAN\"\nenable\nip address 198.51.100.2/24\n" +
			"interface tun0\ntunnel local 198.51.100.2 remote 203.0.113.2\nmtu 1400\nip route 192.168.20.0/24 nexthop 172.16.0.2\n" +
			"ipsec peer 203.0.113.2\npsk Letmein99",
		"comments": "!\n! site hq, generated 2024-01-01\n!\nhostname hq\n!\ninterface eth0\n!\"Static NAT rule, from public IP\"\n" +
			"interface eth0\n description \"Connection to WAN\"\n   !indented comment closes the block too\ninterface eth0\n enable\n" +
			" ip address 198.51.100.2/24\n!\ninterface tun0\n tunnel local 198.51.100.2 remote 203.0.113.2\n mtu 1400\n!\n" +
			"ip route 192.168.20.0/24 nexthop 172.16.0.2\n!\nipsec peer 203.0.113.2\n psk Letmein99\n!",
		"CRLF": strings.ReplaceAll(want, "\n", "\r\n"),
		"one-line": "hostname hq\ninterface eth0 description \"Connection to WAN\" enable ip address 198.51.100.2/24\n" +
			"interface tun0 tunnel local 198.51.100.2 remote 203.0.113.2 mtu 1400\nroute 192.168.20.0/24 nexthop 172.16.0.2\n" +
			"ipsec peer 203.0.113.2 psk Letmein99\n",
		"abbreviated": "host hq\nint eth0\n desc \"Connection to WAN\"\n en\n ip add 198.51.100.2/24\nint tun0\n tun loc 198.51.100.2 rem 203.0.113.2\n" +
			" mt 1400\nip ro 192.168.20.0/24 next 172.16.0.2\nipsec pe 203.0.113.2\n ps Letmein99\n",
		"upper case keywords": "HOSTNAME hq\nINTERFACE eth0\n DESCRIPTION \"Connection to WAN\"\n ENABLE\n IP ADDRESS 198.51.100.2/24\n" +
			"Interface tun0\n Tunnel Local 198.51.100.2 Remote 203.0.113.2\n MTU 1400\nIp Route 192.168.20.0/24 Nexthop 172.16.0.2\n" +
			"IPSEC PEER 203.0.113.2\n PSK Letmein99\n",
	} {
		cfg, err := Parse([]byte(src), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := Render(cfg); got != want {
			t.Errorf("%s: renders\n%s\nwant\n%s", name, got, want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "!", "!\n!\n", "   \n\t\n", "! only a comment\n", " \r \r\n", "\r!comment\r\n", "\r\r\n"} {
		if got := Render(mustParse(t, src)); got != "!\n" {
			t.Errorf("Parse(%q) renders %q", src, got)
		}
	}
}

// Values with blanks, quotes, backslashes and non-ASCII text survive
// Render and Parse.
func TestQuotedValuesRoundTrip(t *testing.T) {
	values := []string{
		"plain", "two words", "  leading and trailing  ", `a "quoted" word`, `back\slash`, `back\ slash`,
		`ends with backslash\`, `"`, `\"`, `\\`, "tab\there", "!bang", "# hash", "é → ü", "'single'", "x,y;z", `a\"b c`,
	}
	for _, v := range values {
		cfg := &Config{}
		cfg.Interfaces = []*Interface{{Name: "eth0", Kind: KindEthernet, BridgeGroup: -1, Description: v}}
		SetRule(cfg, ChainAccess, Rule{Number: 1, Action: "permit", Direction: "all", Remark: v})
		cfg.Routes = []Route{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Dev: "eth0", Remark: v}}
		cfg.Peers = []*Peer{{Name: "p", PSK: v}}
		text := Render(cfg)
		got, err := Parse([]byte(text), "q.cfg")
		if err != nil {
			t.Errorf("%q: %v\n%s", v, err, text)
			continue
		}
		if got.Interfaces[0].Description != v || got.FirewallAccess[0].Remark != v || got.Routes[0].Remark != v || got.Peers[0].PSK != v {
			t.Errorf("%q came back as %q %q %q %q\n%s", v, got.Interfaces[0].Description, got.FirewallAccess[0].Remark,
				got.Routes[0].Remark, got.Peers[0].PSK, text)
		}
		if Render(got) != text {
			t.Errorf("%q: renders differently the second time", v)
		}
	}
}

// A syntax error is reported as file:line:column with the caret's column,
// and wraps the grammar error.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		text      string
		kind      any
	}{
		{"hostname hq\ninterface eth0\n mtu 10000\n", 3, 6, "test.cfg:3:6: Invalid input detected at '^' marker. (10000 is out of range 68-9000)", &grammar.Error{}},
		{"interface eth0\n\tip address 1.2.3.4\n", 2, 13, "Invalid input", &grammar.Error{}},
		{"interface eth0\r\n  ip address 1.2.3.4/33\r\n", 2, 14, "Invalid input", &grammar.Error{}},
		{"hostname hq\nbogus line\n", 2, 1, "test.cfg:2:1: Invalid input", &grammar.Error{}},
		{"ip route 10.0.0.0/8 nexthop  \n", 1, 28, "test.cfg:1:28: Incomplete command.", &grammar.Error{}},
		{"ipsec peer 1.2.3.4\n remote 1.1.1.1\n", 2, 2, `test.cfg:2:2: Ambiguous command:  "remote"`, &grammar.Error{}},
		{"interface eth0\n description \"open quote\n", 2, 14, "test.cfg:2:14: unterminated quoted string", &grammar.TokenizeError{}},
		{"interface foo0\n", 1, 1, `test.cfg:1:1: Unsupported interface "foo0"`, &UserError{}},
		{"interface eth0\n tunnel local 1.1.1.1\n", 2, 2, "only to GRE", &UserError{}},
		{"ipsec ike-policy 10 policy AES SHA 14 version 3\n", 1, 47, "(3 is out of range 1-2)", &grammar.Error{}},
		// a rule number given twice in a file, however it is spelled
		{"firewall-access 10 permit all\nfirewall-access 10 deny all\n", 2, 17,
			"test.cfg:2:17: duplicate rule number: firewall-access 10 is already defined at line 1", &dupRuleError{}},
		{"firewall-access 10 permit all\n!\nfirewall-snat 10 overload outbound eth0\nfirewall-a  010 deny all\n", 4, 13,
			"firewall-access 10 is already defined at line 1", &dupRuleError{}},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.src), "test.cfg")
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", tt.src, err)
			continue
		}
		if se.Pos.Line != tt.line || se.Pos.Col != tt.col || se.Pos.File != "test.cfg" {
			t.Errorf("Parse(%q): error at %v, want test.cfg:%d:%d (%v)", tt.src, se.Pos, tt.line, tt.col, err)
		}
		if !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Parse(%q): %q does not say %q", tt.src, err, tt.text)
		}
		if strings.Contains(err.Error(), "%") {
			t.Errorf("Parse(%q): %q keeps the IOS '%%'", tt.src, err)
		}
		if wantLine := strings.Split(strings.ReplaceAll(tt.src, "\r", ""), "\n")[tt.line-1]; se.Line != wantLine {
			t.Errorf("Parse(%q): Line %q, want %q", tt.src, se.Line, wantLine)
		}
		switch tt.kind.(type) {
		case *grammar.Error:
			var e *grammar.Error
			if !errors.As(err, &e) {
				t.Errorf("%q: does not unwrap to a grammar error", tt.src)
			}
		case *grammar.TokenizeError:
			var e *grammar.TokenizeError
			if !errors.As(err, &e) {
				t.Errorf("%q: does not unwrap to a TokenizeError", tt.src)
			}
		case *UserError:
			var e *UserError
			if !errors.As(err, &e) {
				t.Errorf("%q: does not unwrap to a UserError", tt.src)
			}
		}
	}
	// without a file name the position is line:column
	_, err := Parse([]byte("mtu 1\n"), "")
	if err == nil || !strings.HasPrefix(err.Error(), "1:1: ") {
		t.Errorf("nameless: %v", err)
	}
}

// In a session, entering a rule number again replaces the rule; only a
// file must not repeat one. A rule removed and defined again is no
// repetition.
func TestDuplicateRulesInFileOnly(t *testing.T) {
	src := "firewall-access 10 permit all\nno firewall-access 10\nfirewall-access 10 deny all\n"
	if got := Render(mustParse(t, src)); got != cfgText("firewall-access 10 deny all", "!") {
		t.Errorf("re-defined rule: %s", got)
	}
	// each chain has its own numbers
	src = "firewall-input 10 permit all\nfirewall-access 10 permit all\nfirewall-snat 10 overload outbound eth0\nfirewall-dnat 10 exempt all\n"
	if _, err := Parse([]byte(src), "x"); err != nil {
		t.Errorf("same number in four chains: %v", err)
	}
	// firewall-disable is no rule
	if _, err := Parse([]byte("firewall-disable access\nfirewall-disable access\n"), "x"); err != nil {
		t.Errorf("firewall-disable twice: %v", err)
	}
}

// ParseWithSource tells where each statement came from.
func TestSourcePositions(t *testing.T) {
	src := "!\nhostname hq\n!\ninterface tun0\n  mtu 1400\n  ip address 10.0.0.1/30\n  ip address 10.0.1.1/30\n!\n" +
		"firewall-access 20 permit all\nfirewall-access 10 permit all\n  ip route 10.0.0.0/8 nexthop tun0\n" +
		"ipsec peer 1.2.3.4 local 1.2.3.5 psk x\n"
	_, s, err := ParseWithSource([]byte(src), "s.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"hostname":                   "s.cfg:2:1",
		"interface tun0":             "s.cfg:4:1",
		"interface tun0|mtu":         "s.cfg:5:3",
		"interface tun0|ip address":  "s.cfg:6:3", // the first one
		"interface tun0|description": "s.cfg:4:1", // not there: its block
		"firewall-access 10":         "s.cfg:10:1",
		"firewall-access 20":         "s.cfg:9:1",
		"ip route":                   "s.cfg:11:3",
		"ipsec peer 1.2.3.4":         "s.cfg:12:1",
		"ipsec peer 1.2.3.4|psk":     "s.cfg:12:34",
	} {
		p, ok := s.Lookup(path)
		if !ok || p.String() != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", path, p, ok, want)
		}
	}
	for _, path := range []string{"firewall-access 30", "firewall-access x", "interface eth9", "router ospf|network"} {
		if p, ok := s.Lookup(path); ok {
			t.Errorf("Lookup(%q) = %v", path, p)
		}
	}
	var nilSrc *Source
	if _, ok := nilSrc.Lookup("hostname"); ok {
		t.Error("nil Source found something")
	}
}

// The two reference configurations, as shipped in the shared examples,
// round-trip byte for byte, and agree with the copies in testdata.
func TestSharedExamples(t *testing.T) {
	for _, name := range []string{"hq.cfg", "remote.cfg"} {
		shared, err := os.ReadFile("/work/shared/examples/" + name)
		if err != nil {
			t.Fatalf("the shared examples are missing: %v", err)
		}
		local, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if string(shared) != string(local) {
			t.Errorf("testdata/%s differs from the shared example", name)
		}
		if got := Render(mustParse(t, string(shared))); got != string(shared) {
			t.Errorf("%s: render differs:\n%s", name, got)
		}
	}
}
