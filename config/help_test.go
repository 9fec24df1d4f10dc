package config

import (
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

// `?` and completion on the configuration grammar itself.
func TestConfigHelp(t *testing.T) {
	g := DefaultGrammar()
	tests := []struct {
		mode          Mode
		line, partial string
		want          string
	}{
		// hidden statements (route, shutdown) are never offered
		{ModeConfig, "", "", "firewall-access firewall-disable firewall-dnat firewall-input firewall-snat hostname interface ip ipsec no router"},
		{ModeConfig, "", "r", "router"},
		{ModeConfig, "", "fi", "firewall-access firewall-disable firewall-dnat firewall-input firewall-snat"},
		{ModeConfig, "ip", "", "default-gateway name-server route"},
		{ModeConfig, "ipsec", "", "esp-policy ike-policy peer start stop"},
		{ModeConfig, "interface", "", "bridge vlan IFNAME"},
		{ModeConfig, "interface vlan", "", "<0-4095>"},
		{ModeConfig, "interface eth0", "", "<cr>"},
		{ModeConfig, "no", "", "firewall-access firewall-disable firewall-dnat firewall-input firewall-snat hostname interface ip ipsec router"},
		{ModeConfig, "firewall-access 10 permit inbound", "", "dport dst icmp ip remark sport src tcp udp IFNAME <cr>"},
		{ModeConfig, "firewall-access 10 permit inbound eth0 tcp dport 22", "", "dst remark sport src <cr>"},
		{ModeConfig, "firewall-snat 10", "", "exempt overload translate"},
		{ModeConfig, "firewall-snat 10 overload outbound eth0", "", "dport dst icmp ip remark sport src tcp udp xsrc <cr>"},
		{ModeConfig, "ip route 10.0.0.0/8 nexthop eth0", "", "distance remark <cr>"},
		{ModeInterface, "", "", "bridge-group description enable ip mtu no tunnel"},
		{ModeInterface, "ip", "", "address ospf"},
		{ModeInterface, "ip ospf", "", "cost dead-interval hello-interval network"},
		{ModeInterface, "mtu", "", "<68-9000>"},
		{ModeInterface, "description", "", "LINE"},
		{ModeInterface, "no", "", "bridge-group description enable ip mtu tunnel"},
		{ModeIKEPolicy, "policy", "", "3DES AES AES-192 AES-256"},
		{ModeIKEPolicy, "policy AES", "", "MD5 SHA SHA-256 SHA-512"},
		{ModeIKEPolicy, "policy AES SHA", "", "<1-32>"},
		{ModeESPPolicy, "policy AES SHA", "", "<0-32>"},
		{ModePeer, "", "remote", "remote-id remote-ip remote-net"},
		{ModePeer, "remote-ip", "", "any A.B.C.D"},
		{ModePeer, "policy ike 1", "", "esp"},
		{ModeOSPF, "redistribute", "", "connected static"},
		{ModeOSPF, "network 10.0.0.0/8", "", "area"},
	}
	for _, tt := range tests {
		toks, _ := grammar.Tokenize(tt.line)
		items, err := g.Set(tt.mode).Help(toks, tt.partial)
		if err != nil {
			t.Errorf("%s: Help(%q, %q): %v", tt.mode, tt.line, tt.partial, err)
			continue
		}
		var words []string
		for _, it := range items {
			words = append(words, it.Word)
			if it.Word != "<cr>" && it.Help == "" {
				t.Errorf("%s: %q ?: %s has no help", tt.mode, tt.line, it.Word)
			}
		}
		if got := strings.Join(words, " "); got != tt.want {
			t.Errorf("%s: Help(%q, %q)\n got %s\nwant %s", tt.mode, tt.line, tt.partial, got, tt.want)
		}
	}
}

func TestConfigCandidates(t *testing.T) {
	g := DefaultGrammar()
	toks, _ := grammar.Tokenize("no firewall-access")
	words, slots, err := g.Set(ModeConfig).Candidates(toks, "")
	if err != nil || len(words) != 0 || len(slots) != 1 || slots[0].Name != "num" {
		t.Errorf("no firewall-access <Tab>: %v %v %v; want the rule number slot", words, slots, err)
	}
	toks, _ = grammar.Tokenize("interface")
	words, slots, _ = g.Set(ModeConfig).Candidates(toks, "")
	if strings.Join(words, " ") != "bridge vlan" || len(slots) != 1 || slots[0] != (grammar.Slot{Name: "ifname", Type: "IFNAME"}) {
		t.Errorf("interface <Tab>: %v %v", words, slots)
	}
	toks, _ = grammar.Tokenize("ip route 10.0.0.0/8 nexthop")
	_, slots, _ = g.Set(ModeConfig).Candidates(toks, "")
	if len(slots) != 1 || slots[0].Name != "via" {
		t.Errorf("nexthop <Tab>: %v", slots)
	}
	// a hidden statement is not completed
	toks, _ = grammar.Tokenize("")
	words, _, _ = g.Set(ModeInterface).Candidates(toks, "sh")
	if len(words) != 0 {
		t.Errorf("sh<Tab> in interface mode offers %v", words)
	}
}
