package config

import (
	"fmt"
	"testing"

	"mboxsh/config/grammar"
)

func TestZZProbe(t *testing.T) {
	for _, src := range []string{
		"firewall-input 100 permit all tcp src 192.168.8.0/22 dport 22\n",
		"firewall-access 10 permit all t dport 22\n",
		"ipsec peer x\n local-id a\"b\n",
		"firewall-disable access\nfirewall-disable access\n",
		"firewall-access 10 permit all\nfire 10 permit all\n",
		"firewall-access 10 permit all\nfirewall-access 010 permit all\n",
		"interface eth0\n mtu 99999999999999999999\n",
		"interface vlan\n",
		"interface tun0\n tunnel local 1.2.3.4 remote 5.6.7.8\n",
		"firewall-access 10 permit all tcp src 1.1.1.1 s 80\n",
	} {
		cfg, err := Parse([]byte(src), "p")
		if err != nil {
			fmt.Printf("%q -> ERR %v\n", src, err)
			continue
		}
		out := Render(cfg)
		_, err2 := Parse([]byte(out), "r")
		fmt.Printf("%q -> %q reparse=%v\n", src, out, err2)
	}
	_ = grammar.Quote
}
