package config

import (
	"fmt"
	"testing"
)

func TestZZProbe(t *testing.T) {
	for _, src := range []string{
		"firewall-access 10 permit all\nfirewall-access 010 permit all\n",
		"firewall-access 10 permit all\n!\nfirewall-access 9 permit all\nfirewall-a 10 permit all\n",
		"firewall-access 10 permit all\nno firewall-access 10\nfirewall-access 10 permit all\n",
	} {
		cfg, src2, err := ParseWithSource([]byte(src), "p")
		if err != nil {
			fmt.Printf("%q -> ERR %v\n", src, err)
			continue
		}
		p, ok := src2.Lookup("firewall-access 10")
		fmt.Printf("%q -> %q %v %v\n", src, Render(cfg), p, ok)
	}
}
