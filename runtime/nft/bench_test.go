package nft

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
)

// bigConfig has n forward rules; every tenth uses lists (anonymous sets),
// as real rule bases do.
func bigConfig(n int) *config.Config {
	cfg := referenceConfig()
	cfg.FirewallAccess = make([]config.Rule, 0, n)
	for i := 0; i < n; i++ {
		r := config.Rule{
			Number:    100 + i,
			Action:    "permit",
			Direction: "inbound",
			Interface: "eth1",
			Proto:     "tcp",
			Src:       []string{fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256)},
			Dport:     []string{strconv.Itoa(1000 + i%50000)},
		}
		if i%10 == 0 {
			r.Dst = []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24"}
			r.Dport = []string{"80", "443", "8000-8080"}
		}
		if i%7 == 0 {
			r.Action = "deny"
		}
		cfg.FirewallAccess = append(cfg.FirewallAccess, r)
	}
	return cfg
}

func apply(b *testing.B, d *Driver, from, to *config.Config) *runtime.Result {
	b.Helper()
	res, err := runtime.Apply(ctx(b), []runtime.Driver{d}, from, to, runtime.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// cpuTime is the user+system CPU time of the process so far: unlike wall
// time it does not grow when other work competes for the CPUs. The kernel's
// work for a batch runs in the sending process and counts as system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// peakRSS reports the process's peak resident set (VmHWM).
func peakRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
		}
	}
}

// BenchmarkBuild10k programs 10,000 rules into an empty namespace with the
// driver and, in the same iteration, with `nft -f` of the same ruleset (the
// floor: what the reference tool needs). It reports both and the ratio.
func BenchmarkBuild10k(b *testing.B) {
	ns := newNS(b)
	cfg := bigConfig(10000)
	d := newDriver(b, ns)
	script, err := d.Ruleset(cfg)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		b.Fatal(err)
	}
	var drv, ref, drvCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tryRun("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", TableName)
		d2 := newDriver(b, ns) // a fresh process: nothing memoised
		t0, c0 := time.Now(), cpuTime()
		apply(b, d2, &configEmpty, cfg)
		drv += time.Since(t0)
		drvCPU += cpuTime() - c0
		d2.Close()

		run(b, "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", TableName)
		t0 = time.Now()
		run(b, "ip", "netns", "exec", ns, "nft", "-f", file)
		ref += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(drv.Microseconds())/1000/float64(b.N), "driver-ms/op")
	b.ReportMetric(float64(ref.Microseconds())/1000/float64(b.N), "nft-f-ms/op")
	b.ReportMetric(float64(drv)/float64(ref), "driver/nft")
	b.ReportMetric(float64(drvCPU.Microseconds())/1000/float64(b.N), "driver-cpu-ms/op")
	peakRSS(b)
}

// BenchmarkChangeOne10k: one rule of 10,000 changes; Plan and Do end to end.
func BenchmarkChangeOne10k(b *testing.B) {
	ns := newNS(b)
	d := newDriver(b, ns)
	a := bigConfig(10000)
	apply(b, d, &configEmpty, a)
	c := a.Clone()
	c.FirewallAccess[5000].Dport = []string{"4242"}
	from, to := a, c
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		res := apply(b, d, from, to)
		if len(res.Steps) != 1 || res.Steps[0].Stmt != "firewall-access 5100" {
			b.Fatalf("steps %v", stepNames(res.Steps))
		}
		from, to = to, from
	}
	b.StopTimer()
	if d.recoveries != 0 {
		b.Fatalf("%d recoveries", d.recoveries)
	}
	peakRSS(b)
	reportCPU(b, cpu0)
}

// BenchmarkNoop10k: commit of an unchanged configuration of 10,000 rules.
func BenchmarkNoop10k(b *testing.B) {
	ns := newNS(b)
	d := newDriver(b, ns)
	a := bigConfig(10000)
	apply(b, d, &configEmpty, a)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if res := apply(b, d, a, a); len(res.Steps) != 0 {
			b.Fatalf("steps %v", stepNames(res.Steps))
		}
	}
	b.StopTimer()
	peakRSS(b)
	reportCPU(b, cpu0)
}

// BenchmarkNoopCold10k: the same from a fresh driver each time (a new
// mboxsh process): it must read the table and compile every rule.
func BenchmarkNoopCold10k(b *testing.B) {
	ns := newNS(b)
	a := bigConfig(10000)
	apply(b, newDriver(b, ns), &configEmpty, a)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		d, err := New(ns)
		if err != nil {
			b.Fatal(err)
		}
		if res := apply(b, d, a, a); len(res.Steps) != 0 {
			b.Fatalf("steps %v", stepNames(res.Steps))
		}
		d.Close()
	}
	b.StopTimer()
	peakRSS(b)
	reportCPU(b, cpu0)
}

// BenchmarkDrift10k: Drift after a hand edit (the cache is invalid, so the
// table is dumped and compared).
func BenchmarkDrift10k(b *testing.B) {
	ns := newNS(b)
	d := newDriver(b, ns)
	a := bigConfig(10000)
	apply(b, d, &configEmpty, a)
	run(b, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", TableName, "forward", "accept")
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		d.cache = nil
		lines, err := d.Drift(ctx(b), a)
		if err != nil || len(lines) != 1 {
			b.Fatalf("%v %v", err, lines)
		}
	}
	reportCPU(b, cpu0)
}

// threadCPU is the user and system CPU time of the calling OS thread (the
// caller must be locked to it): unlike wall time, it does not grow when
// other work competes for the CPUs. Kernel work for a netlink batch runs in
// the sending thread, as system time.
func threadCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkChunkSize measures the layout choice: one rule of 10,000 changes
// (rule 5100, which has two anonymous sets, or rule 5101, which has none)
// in a flat forward chain and with sub-chains of several mean sizes.
// kernel-ms/op is the system time of the committing thread (the kernel
// processing the batch, mostly), user-ms/op its user time (Plan and Do).
func BenchmarkChunkSize(b *testing.B) {
	for _, size := range []int{0, 32, 64, 128, 256, 512, 1024} {
		for _, idx := range []int{5000, 5001} {
			name := fmt.Sprintf("mean=%d/rule=%d", size, 100+idx)
			if size == 0 {
				name = fmt.Sprintf("flat/rule=%d", 100+idx)
			}
			b.Run(name, func(b *testing.B) {
				ns := newNS(b)
				d := newDriver(b, ns)
				if size == 0 {
					d.comp.flatMax = 1 << 30
				} else {
					d.comp.chunkSize = size
				}
				a := bigConfig(10000)
				apply(b, d, &configEmpty, a)
				c := a.Clone()
				c.FirewallAccess[idx].Dport = []string{"4242"}
				if idx%10 == 0 {
					c.FirewallAccess[idx].Dport = []string{"4242", "4243"}
				}
				from, to := a, c
				goruntime.LockOSThread()
				defer goruntime.UnlockOSThread()
				b.ResetTimer()
				u0, s0 := threadCPU()
				for i := 0; i < b.N; i++ {
					apply(b, d, from, to)
					from, to = to, from
				}
				u1, s1 := threadCPU()
				b.StopTimer()
				b.ReportMetric(float64((s1-s0).Microseconds())/1000/float64(b.N), "kernel-ms/op")
				b.ReportMetric(float64((u1-u0).Microseconds())/1000/float64(b.N), "user-ms/op")
				for _, ch := range d.cache.chains {
					for _, r := range ch.rules {
						if r.key == fmt.Sprintf("firewall-access %d", 100+idx) {
							b.ReportMetric(float64(len(ch.rules)), "chain-rules")
						}
					}
				}
			})
		}
	}
}
