// Command commitbench measures mboxsh commits against the kernel's own
// floor for the same state, in the same run, and prints a table.
//
// It commits a configuration with T GRE tunnels (when the kernel has GRE),
// R static routes and F firewall rules from empty, through the real mboxsh
// binary (time and peak resident memory of the process), then changes one
// rule and commits again, and commits with no change; and it loads the same
// state with `ip -batch` and `nft -f` into a fresh namespace (the floor).
//
//	go build -o /tmp/mboxsh ./cmd/mboxsh && go run ./bench/commitbench -mboxsh /tmp/mboxsh
//
// Run it as root; it works in network namespaces it creates and removes.
// In the VM lab (GRE): go run ./test/vmlab/cmd/vmexec -- /tmp/commitbench -mboxsh /tmp/mboxsh
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"mboxsh/config"
	"mboxsh/runtime/nft"
)

func main() {
	bin := flag.String("mboxsh", "", "path of the mboxsh binary (required)")
	tunnels := flag.Int("tunnels", 100, "GRE tunnels (skipped when the kernel has no GRE)")
	routes := flag.Int("routes", 1000, "static routes")
	rules := flag.Int("rules", 10000, "firewall-access rules")
	runs := flag.Int("runs", 3, "repetitions; the best time is reported")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "commitbench: -mboxsh PATH is required")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "commitbench: needs root (network namespaces)")
		os.Exit(2)
	}
	b := &bench{bin: *bin, dir: must(os.MkdirTemp("", "commitbench-"))}
	defer os.RemoveAll(b.dir)
	if !b.kernelHasGRE() {
		fmt.Printf("note: this kernel has no GRE; measuring without tunnels\n")
		*tunnels = 0
	}
	cfgText := generate(*tunnels, *routes, *rules)
	lines := strings.Count(cfgText, "\n")
	cfg, err := config.Parse([]byte(cfgText), "bench")
	check(err)
	changed := cfg.Clone()
	r := changed.FirewallAccess[len(changed.FirewallAccess)/2]
	r.Dport = []string{"65000"}
	config.SetRule(changed, config.ChainAccess, r)

	var full, one, noop, ipFloor, nftFloor, oneIn, noopIn time.Duration
	var rss int64
	// Warm-up, untimed: the floor's own load of the same state, so that the
	// kernel modules it needs (nf_tables and its expressions, NAT, GRE) are
	// loaded before either side is measured; on a fresh VM the first to
	// touch them would pay for loading them.
	warm := b.namespace()
	b.ipBatch(warm, cfg)
	b.nftFile(warm, cfg)
	b.remove(warm)
	for i := 0; i < *runs; i++ {
		ns := b.namespace()
		state := filepath.Join(b.dir, fmt.Sprintf("state-%d", i))
		d, mem := b.commit(ns, state, "configure replace "+b.write("full.cfg", cfgText))
		full, rss = best(full, d), max(rss, mem)
		d, _ = b.commit(ns, state, "configure replace "+b.write("changed.cfg", config.Render(changed)))
		one = best(one, d)
		d, _ = b.commit(ns, state, "configure replace "+b.write("changed.cfg", config.Render(changed)))
		noop = best(noop, d)
		// Inside one session, as an operator commits: the drivers stay
		// open between commits.
		o, n := b.session(ns, state, changed.FirewallAccess[len(changed.FirewallAccess)/3])
		oneIn, noopIn = best(oneIn, o), best(noopIn, n)
		b.remove(ns)

		floorNS := b.namespace()
		ipFloor = best(ipFloor, b.ipBatch(floorNS, cfg))
		nftFloor = best(nftFloor, b.nftFile(floorNS, cfg))
		b.remove(floorNS)
	}
	floor := ipFloor + nftFloor
	fmt.Printf("\nmboxsh commit benchmark: %d GRE tunnels, %d routes, %d firewall rules (%d config lines), best of %d\n\n",
		*tunnels, *routes, *rules, lines, *runs)
	fmt.Printf("%-44s %12s %12s %8s\n", "what", "mboxsh", "floor", "ratio")
	fmt.Printf("%-44s %12s %12s %8.2f\n", "full commit from empty (whole process)", ms(full), ms(floor), ratio(full, floor))
	fmt.Printf("%-44s %12s %12s\n", "  floor: ip -batch (links, addresses, routes)", "", ms(ipFloor))
	fmt.Printf("%-44s %12s %12s\n", "  floor: nft -f (the same ruleset)", "", ms(nftFloor))
	fmt.Printf("%-44s %12s\n", "one-rule change (whole process)", ms(one))
	fmt.Printf("%-44s %12s\n", "no-op commit (whole process)", ms(noop))
	fmt.Printf("%-44s %12s\n", "one-rule change (commit in a session)", ms(oneIn))
	fmt.Printf("%-44s %12s\n", "no-op commit (commit in a session)", ms(noopIn))
	fmt.Printf("%-44s %9.1f MB\n", "peak resident memory of mboxsh", float64(rss)/1024)
	fmt.Println("\ncommit in a session = what `commit` reports: validation, diff, kernel read-back, changes, state write.")
	fmt.Println("whole process = mboxsh start, parse of the stored running config and of the file, validation,")
	fmt.Println("kernel read-back, the changes, the state-directory write (fsync) and the archive.")
}

type bench struct {
	bin, dir string
	n        int
}

func (b *bench) namespace() string {
	b.n++
	ns := fmt.Sprintf("mbxbench-%d-%d", os.Getpid(), b.n)
	run("ip", "netns", "add", ns)
	run("ip", "-n", ns, "link", "set", "lo", "up")
	for i := 0; i < 2; i++ {
		run("ip", "-n", ns, "link", "add", fmt.Sprintf("eth%d", i), "type", "veth", "peer", "name", fmt.Sprintf("peer%d", i))
		run("ip", "-n", ns, "link", "set", fmt.Sprintf("peer%d", i), "up")
	}
	return ns
}

func (b *bench) remove(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, pid := range strings.Fields(string(out)) {
		_ = exec.Command("kill", "-9", pid).Run()
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
}

func (b *bench) kernelHasGRE() bool {
	ns := b.namespace()
	defer b.remove(ns)
	return exec.Command("ip", "-n", ns, "link", "add", "gretest", "type", "gre", "local", "192.0.2.1", "remote", "192.0.2.2").Run() == nil
}

func (b *bench) write(name, text string) string {
	p := filepath.Join(b.dir, name)
	check(os.WriteFile(p, []byte(text), 0o600))
	return p
}

// commit runs one mboxsh process and returns its wall time and peak RSS (KB).
func (b *bench) commit(ns, state, line string) (time.Duration, int64) {
	cmd := exec.Command(b.bin, "--netns", ns, "--state-dir", state, "-c", line)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mboxsh %s: %v\n%s", line, err, out.String())
		os.Exit(1)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss
	}
	return d, rss
}

// session runs one mboxsh that commits three one-rule changes and three
// no-op commits, and returns the best time `commit` reported for each kind.
func (b *bench) session(ns, state string, r config.Rule) (one, noop time.Duration) {
	args := []string{"--netns", ns, "--state-dir", state, "-c", "configure"}
	for i := 0; i < 3; i++ {
		r.Dport = []string{fmt.Sprint(64000 + i)}
		args = append(args, "-c", config.RuleText(config.ChainAccess, r), "-c", "commit")
	}
	args = append(args, "-c", "commit", "-c", "commit", "-c", "commit", "-c", "end")
	out, err := exec.Command(b.bin, args...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mboxsh session: %v\n%s", err, out)
		os.Exit(1)
	}
	re := regexp.MustCompile(`Commit complete: (\d+) change\(s\).* in ([0-9.]+[µm]?s)\.`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		d, err := time.ParseDuration(m[2])
		check(err)
		if m[1] == "0" {
			noop = best(noop, d)
		} else {
			one = best(one, d)
		}
	}
	return one, noop
}

// ipBatch loads the links, addresses and routes of cfg with `ip -batch`.
func (b *bench) ipBatch(ns string, cfg *config.Config) time.Duration {
	var s strings.Builder
	for _, i := range cfg.Interfaces {
		if i.Kind == config.KindGRE {
			fmt.Fprintf(&s, "link add %s type gre local %s remote %s ttl 64\n", i.Name, i.TunnelLocal, i.TunnelRemote)
		}
		if i.MTU != 0 {
			fmt.Fprintf(&s, "link set %s mtu %d\n", i.Name, i.MTU)
		}
		if i.Description != "" {
			fmt.Fprintf(&s, "link set %s alias %q\n", i.Name, i.Description)
		}
		for _, a := range i.Addresses {
			fmt.Fprintf(&s, "addr add %s dev %s\n", a, i.Name)
		}
		if i.Enabled {
			fmt.Fprintf(&s, "link set %s up\n", i.Name)
		}
	}
	if cfg.DefaultGateway.IsValid() {
		fmt.Fprintf(&s, "route add default via %s proto static\n", cfg.DefaultGateway)
	}
	for _, r := range cfg.Routes {
		fmt.Fprintf(&s, "route add %s via %s proto static\n", r.Prefix, r.Via)
	}
	file := b.write("floor.ip", s.String())
	start := time.Now()
	run("ip", "-n", ns, "-batch", file)
	return time.Since(start)
}

// nftFile loads the ruleset the nft driver builds for cfg with `nft -f`.
func (b *bench) nftFile(ns string, cfg *config.Config) time.Duration {
	d, err := nft.New(ns)
	check(err)
	defer d.Close()
	text, err := d.Ruleset(cfg)
	check(err)
	file := b.write("floor.nft", text)
	start := time.Now()
	run("ip", "netns", "exec", ns, "nft", "-f", file)
	return time.Since(start)
}

// generate writes the benchmark configuration.
func generate(tunnels, routes, rules int) string {
	var b strings.Builder
	b.WriteString("hostname bench\n")
	b.WriteString("interface eth0\n description WAN\n enable\n ip address 198.51.100.2/16\n!\n")
	b.WriteString("interface eth1\n description LAN\n enable\n ip address 10.0.0.1/16\n!\n")
	for i := 0; i < tunnels; i++ {
		fmt.Fprintf(&b, "interface tun%d\n tunnel local 198.51.100.2 remote 198.51.%d.%d\n enable\n mtu 1400\n ip address 172.16.%d.%d/30\n!\n",
			i, 101+i/250, 1+i%250, i/64, (i%64)*4+1)
	}
	b.WriteString("ip default-gateway 198.51.100.1\n")
	for i := 0; i < routes; i++ {
		fmt.Fprintf(&b, "ip route 10.%d.%d.0/24 nexthop 10.0.%d.%d\n", 100+i/250, i%250, i/250, 2+i%250)
	}
	for i := 0; i < rules; i++ {
		fmt.Fprintf(&b, "firewall-access %d permit outbound eth0 tcp src 10.0.%d.0/24 dport %d\n", i+1, i%250, 1+i%60000)
	}
	b.WriteString("firewall-snat 10 overload outbound eth0\n")
	return b.String()
}

func run(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n%s", strings.Join(args, " "), err, out)
		os.Exit(1)
	}
}

func best(cur, d time.Duration) time.Duration {
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func must[T any](v T, err error) T {
	check(err)
	return v
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "commitbench:", err)
		os.Exit(1)
	}
}
