package config

import (
	"fmt"
	"testing"

	"mboxsh/config/grammar"
)

func TestZZProbe(t *testing.T) {
	for _, l := range []string{"ipsec ike-policy 10 policy AES SHA 14 version 3", "ipsec peer 1.2.3.4 local 1.2.3.5 bogus", "interface tun0 enable mtu 10000"} {
		ed := NewEditor(DefaultGrammar(), &Config{})
		toks, _ := grammar.Tokenize(l)
		_, err := ed.Apply(toks)
		fmt.Printf("%q: %#v\n", l, err)
	}
}
