package shell_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"mboxsh/persist"
	"mboxsh/shell"
	"mboxsh/shell/commands"
)

// bigConfig is the benchmark configuration of issue 4 without tunnels:
// 1,000 static routes and n firewall-access rules.
func bigConfig(rules int) string {
	var b strings.Builder
	b.WriteString("hostname bench\n!\ninterface eth0\n enable\n ip address 10.0.0.1/16\n!\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "ip route 172.%d.%d.0/24 nexthop 10.0.0.254\n", 16+i/256, i%256)
	}
	b.WriteString("!\n")
	for i := 1; i <= rules; i++ {
		fmt.Fprintf(&b, "firewall-access %d permit outbound eth0 tcp src 10.%d.%d.0/24 dport %d remark \"rule %d\"\n", i, i/256%256, i%256, 1024+i%60000, i)
	}
	b.WriteString("!\n")
	return b.String()
}

// BenchmarkCommitOneRuleOffline is the part of an in-session one-rule
// commit that is not the drivers': validation, rendering, the text diff,
// the running-config and archive writes, at 10,000 rules.
func BenchmarkCommitOneRuleOffline(b *testing.B) {
	store, err := persist.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.WriteRunning([]byte(bigConfig(10000))); err != nil {
		b.Fatal(err)
	}
	s, err := shell.New(shell.Options{Store: store, Out: &bytes.Buffer{}, Err: &bytes.Buffer{},
		Commands: append(commands.All(), commands.Show(nil)...)})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if err := s.Exec("configure", &out); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		line := fmt.Sprintf("firewall-access 50000 permit outbound eth0 udp dport %d", 1+i%60000)
		if err := s.Exec(line, &out); err != nil {
			b.Fatal(err)
		}
		if err := s.Exec("commit", &out); err != nil {
			b.Fatal(err)
		}
	}
}
