package netlink_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	nl "mboxsh/runtime/netlink"
	"mboxsh/runtime/netlink/internal/nltest"
)

const (
	benchNICs   = 16
	benchRoutes = 1000
)

// benchConfig is benchNICs enabled NICs with one address each and
// benchRoutes static routes spread over their gateways.
func benchConfig() *config.Config {
	c := &config.Config{}
	for i := range benchNICs {
		c.Interfaces = append(c.Interfaces, &config.Interface{
			Name: fmt.Sprintf("eth%d", i), Kind: config.KindEthernet, Enabled: true, BridgeGroup: -1,
			Addresses: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.1/24", i))},
		})
	}
	for k := range benchRoutes {
		c.Routes = append(c.Routes, config.Route{
			Prefix: netip.MustParsePrefix(fmt.Sprintf("172.%d.%d.0/24", 16+k/256, k%256)),
			Via:    netip.MustParseAddr(fmt.Sprintf("10.%d.0.254", k%benchNICs)),
		})
	}
	return c
}

// ipBatch is the same state as iproute2 batch commands: the floor of what
// the kernel takes to apply it.
func ipBatch(c *config.Config) (up, down string) {
	var u, d strings.Builder
	for _, i := range c.Interfaces {
		fmt.Fprintf(&u, "link set %s up\n", i.Name)
		for _, a := range i.Addresses {
			fmt.Fprintf(&u, "address add %s brd + dev %s\n", a, i.Name)
			fmt.Fprintf(&d, "address del %s dev %s\n", a, i.Name)
		}
		fmt.Fprintf(&d, "link set %s down\n", i.Name)
	}
	for _, r := range c.Routes {
		fmt.Fprintf(&u, "route add %s via %s proto 176 metric 1\n", r.Prefix, r.Via)
	}
	return u.String(), d.String()
}

func benchNS(b testing.TB, tag string) (*nltest.NS, *nl.Driver) {
	ns := nltest.NewNS(b, tag)
	ns.NoDAD() // no IPv6 address changes a second after a commit
	var names []string
	for i := range benchNICs {
		names = append(names, fmt.Sprintf("eth%d", i))
	}
	ns.AddNIC(names...)
	d, err := nl.New(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return ns, d
}

// BenchmarkApplyFromEmpty applies benchNICs interfaces' addresses and
// benchRoutes routes to an empty namespace through the driver (plan and
// steps), and the same state with `ip -batch` in a twin namespace, in the
// same run. It reports both and their ratio.
func BenchmarkApplyFromEmpty(b *testing.B) {
	cfg := benchConfig()
	ns, d := benchNS(b, "bench-a")
	twin, _ := benchNS(b, "bench-b")
	upCmds, downCmds := ipBatch(cfg)
	dir := b.TempDir()
	upFile, downFile := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	if err := os.WriteFile(upFile, []byte(upCmds), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(downFile, []byte(downCmds), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var ours, floor time.Duration
	steps := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		res, err := runtime.Apply(ctx, []runtime.Driver{d}, empty, cfg, runtime.Options{})
		ours += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		steps = len(res.Steps)

		t0 = time.Now()
		twin.IP("-batch", upFile)
		floor += time.Since(t0)

		b.StopTimer()
		if _, err := runtime.Apply(ctx, []runtime.Driver{d}, cfg, empty, runtime.Options{}); err != nil {
			b.Fatal(err)
		}
		twin.IP("-batch", downFile) // removing the addresses flushes the routes
		b.StartTimer()
	}
	b.StopTimer()
	if n := len(ns.Snapshot().Grep("proto=176")); n != 0 {
		b.Fatalf("%d routes left after the reset", n)
	}
	b.ReportMetric(float64(ours.Microseconds())/1000/float64(b.N), "mboxsh-ms/op")
	b.ReportMetric(float64(floor.Microseconds())/1000/float64(b.N), "ipbatch-ms/op")
	b.ReportMetric(float64(ours)/float64(floor), "ratio")
	b.ReportMetric(float64(steps), "steps")
}

// appliedBench is a driver on a namespace where the benchmark configuration
// is applied.
func appliedBench(b *testing.B, tag string) (*config.Config, *nl.Driver) {
	cfg := benchConfig()
	_, d := benchNS(b, tag)
	if _, err := runtime.Apply(context.Background(), []runtime.Driver{d}, empty, cfg, runtime.Options{}); err != nil {
		b.Fatal(err)
	}
	return cfg, d
}

// planNothing plans cfg over itself and requires no step.
func planNothing(b *testing.B, ctx context.Context, d *nl.Driver, cfg *config.Config) {
	steps, err := d.Plan(ctx, cfg, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if len(steps) != 0 {
		b.Fatalf("%d steps, want 0", len(steps))
	}
}

// BenchmarkPlanNoop plans an applied configuration of benchNICs interfaces
// and benchRoutes routes again: the work of a commit that changes nothing.
func BenchmarkPlanNoop(b *testing.B) {
	cfg, d := appliedBench(b, "bench-n")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		planNothing(b, ctx, d, cfg)
	}
}

// BenchmarkDrift is Drift of the same applied configuration.
func BenchmarkDrift(b *testing.B) {
	cfg, d := appliedBench(b, "bench-d")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if lines, err := d.Drift(ctx, cfg); err != nil || len(lines) != 0 {
			b.Fatalf("drift: %v %v", lines, err)
		}
	}
}

// BenchmarkPlanNoChangeCached plans an applied configuration of benchNICs
// interfaces and benchRoutes routes again while nothing changes: after the
// first plan, the driver reuses the addresses and routes it read (the state
// cache) and reads only the links and sysctls. It fails if a plan reads the
// whole state.
func BenchmarkPlanNoChangeCached(b *testing.B) {
	cfg, d := appliedBench(b, "bench-c")
	ctx := context.Background()
	settle(b, d, cfg) // the commit's own changes invalidated the cache
	reads := nl.StateReads(d)
	b.ResetTimer()
	for range b.N {
		planNothing(b, ctx, d, cfg)
	}
	b.StopTimer()
	if n := nl.StateReads(d) - reads; n != 0 {
		b.Fatalf("%d reads of the kernel state during %d cached plans", n, b.N)
	}
}

// BenchmarkPlanNoChangeUncached is BenchmarkPlanNoChangeCached with the
// cache dropped before every plan: each plan subscribes and reads the whole
// state, as a plan after any change does.
func BenchmarkPlanNoChangeUncached(b *testing.B) {
	cfg, d := appliedBench(b, "bench-u")
	ctx := context.Background()
	reads := nl.StateReads(d)
	b.ResetTimer()
	for range b.N {
		nl.SetEventBuffer(d, 0) // drops the cache
		planNothing(b, ctx, d, cfg)
	}
	b.StopTimer()
	if n := nl.StateReads(d) - reads; n != uint64(b.N) {
		b.Fatalf("%d reads of the kernel state during %d uncached plans", n, b.N)
	}
}

// BenchmarkCommitOneRoute commits a one-route change (the distance of one
// of benchRoutes routes, back and forth) end to end through runtime.Apply:
// plan and steps. The previous commit's own changes invalidated the cache,
// so each plan reads the whole state.
func BenchmarkCommitOneRoute(b *testing.B) {
	cfg, d := appliedBench(b, "bench-r")
	alt := benchConfig()
	alt.Routes[benchRoutes/2].Distance = 7
	ctx := context.Background()
	from, to := cfg, alt
	b.ResetTimer()
	for range b.N {
		res, err := runtime.Apply(ctx, []runtime.Driver{d}, from, to, runtime.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Steps) != 2 {
			b.Fatalf("%d steps, want 2 (remove and install the route)", len(res.Steps))
		}
		from, to = to, from
	}
}
