package config

import (
	"fmt"
	"testing"
)

func TestZZProbe(t *testing.T) {
	for _, src := range []string{"hostname a\n \r \nhostname b\n", "\r!comment\nhostname c\n", "hostname a\r\r\n", "interface eth0\n\v\n"} {
		cfg, err := Parse([]byte(src), "p")
		if err != nil {
			fmt.Printf("%q -> ERR %v\n", src, err)
			continue
		}
		fmt.Printf("%q -> %q\n", src, Render(cfg))
	}
}
