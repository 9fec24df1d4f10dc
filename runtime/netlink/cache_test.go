package netlink_test

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	nl "mboxsh/runtime/netlink"
	"mboxsh/runtime/netlink/internal/nltest"
)

// The tests of the state cache use namespaces of their own prefix.
const cachePrefix = "mbxnlc-"

func newCacheFixture(t *testing.T, tag string) *fixture {
	t.Helper()
	ns := nltest.NewNSPrefixed(t, cachePrefix, tag)
	ns.NoDAD()
	ns.AddNIC("eth0", "eth1", "eth2")
	d, err := nl.New(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &fixture{ns: ns, d: d}
}

// requireReads fails unless the driver read all addresses and routes n
// times since *base, and moves *base on.
func requireReads(t *testing.T, d *nl.Driver, base *uint64, n uint64, what string) {
	t.Helper()
	got := nl.StateReads(d) - *base
	*base += got
	if got != n {
		t.Fatalf("%s: %d reads of the kernel state, want %d", what, got, n)
	}
}

// settle plans cfg (applied) until the cached state stays current for a
// while: the changes of the last commit and the kernel's follow-ups to them
// are over. The kernel reports carrier and operational state changes
// through linkwatch, which delays them by up to a second.
func settle(t testing.TB, d *nl.Driver, cfg *config.Config) {
	t.Helper()
	const quiet = 1100 * time.Millisecond
	deadline := time.Now().Add(15 * time.Second)
	for {
		nltest.RequireNoSteps(t, d, cfg)
		start := time.Now()
		for {
			time.Sleep(50 * time.Millisecond)
			if _, stale, _ := nl.CacheState(d); stale {
				break
			}
			if time.Since(start) >= quiet {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the namespace keeps changing: the state cache never stays current")
		}
	}
}

func requireCached(t *testing.T, d *nl.Driver) {
	t.Helper()
	if cached, stale, overrun := nl.CacheState(d); !cached || stale || overrun {
		t.Fatalf("cache: cached=%v stale=%v overrun=%v, want a current cached state", cached, stale, overrun)
	}
}

func stepDescs(steps []runtime.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Stmt+": "+s.Desc)
	}
	return out
}

// TestCacheNoopPlan: after a commit, the first plan reads the kernel (the
// commit's own changes invalidated the cache); the following plans and
// drift reports use the cached state.
func TestCacheNoopPlan(t *testing.T) {
	f := newCacheFixture(t, "noop")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	if _, stale, _ := nl.CacheState(f.d); !stale {
		t.Fatal("the cache is current after the commit's own changes")
	}
	base := nl.StateReads(f.d)
	nltest.RequireNoSteps(t, f.d, a)
	if nl.StateReads(f.d) == base {
		t.Fatal("the first plan after the commit did not read the kernel state")
	}
	settle(t, f.d, a)
	base = nl.StateReads(f.d)
	for range 5 {
		nltest.RequireNoSteps(t, f.d, a)
		requireDrift(t, f.d, a, driftEth3, driftRoute7)
	}
	requireReads(t, f.d, &base, 0, "plans and drift of an unchanged system")
	requireCached(t, f.d)

	// Status keeps reading the kernel (counters change without notice)
	// and leaves the cache alone.
	if _, err := f.d.Interfaces(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	base = nl.StateReads(f.d)
	nltest.RequireNoSteps(t, f.d, a)
	requireReads(t, f.d, &base, 0, "plan after show interfaces")
}

// TestCacheSeesChangesByHand changes the system behind mboxsh's back, with
// another process, after the cache was filled. Drift and Plan of the cached
// driver must equal those of a new driver, and a commit of the unchanged
// configuration re-asserts it.
func TestCacheSeesChangesByHand(t *testing.T) {
	f := newCacheFixture(t, "hand")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	applied := f.ns.Snapshot()
	cases := []struct {
		name   string
		change [][]string // ip commands, or a shell command with "sh"
		drift  string     // a line Drift must report
		reads  bool       // whether the change makes the driver read addresses and routes again
	}{
		{"route deleted", [][]string{{"route", "del", "192.168.10.0/24", "via", "203.0.113.254", "metric", "5"}},
			"route 192.168.10.0/24 nexthop 203.0.113.254 distance 5 missing", true},
		{"route added", [][]string{{"route", "add", "10.77.0.0/16", "via", "203.0.113.1", "proto", "176", "metric", "3"}},
			"route 10.77.0.0/16 nexthop 203.0.113.1 distance 3 present but not configured", true},
		{"address added", [][]string{{"addr", "add", "10.9.9.9/24", "dev", "eth0"}},
			"interface eth0: address 10.9.9.9/24 present but not configured", true},
		{"address removed", [][]string{{"addr", "del", "192.168.21.1/24", "dev", "eth1"}},
			"interface eth1: address 192.168.21.1/24 configured but missing", true},
		{"mtu", [][]string{{"link", "set", "eth0", "mtu", "1500"}},
			"interface eth0: mtu 1500 (configured 1400)", true},
		{"link down flushes its routes", [][]string{{"link", "set", "eth1", "down"}},
			"route 10.50.0.0/16 nexthop eth1 missing", true},
		// The kernel does not notify a description change of a link that
		// is down: links are read every time.
		{"description of a down link", [][]string{{"link", "set", "eth2", "alias", "by hand"}},
			`interface eth2: description "by hand" present but not configured`, false},
		{"description of an up link", [][]string{{"link", "set", "eth1", "alias", "by hand"}},
			`interface eth1: description "by hand" (configured "LAN")`, true},
		{"ip_forward", [][]string{{"sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"}},
			"ip forwarding disabled (net.ipv4.ip_forward=0)", false},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			settle(t, f.d, a) // fills the cache
			requireCached(t, f.d)
			base := nl.StateReads(f.d)
			for _, cmd := range c.change {
				if cmd[0] == "sh" {
					f.ns.Exec(cmd...)
				} else {
					f.ns.IP(cmd...)
				}
			}
			got := drift(t, f.d, a)
			fresh, err := nl.New(f.ns.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if want := drift(t, fresh, a); !slices.Equal(got, want) {
				t.Fatalf("drift of the cached driver:\n  %s\nof a new driver:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if !slices.Contains(got, c.drift) {
				t.Fatalf("drift has no line %q:\n  %s", c.drift, strings.Join(got, "\n  "))
			}
			steps, fsteps := nltest.Steps(t, f.d, a, a), nltest.Steps(t, fresh, a, a)
			if g, w := stepDescs(steps), stepDescs(fsteps); !slices.Equal(g, w) {
				t.Fatalf("plan of the cached driver:\n  %s\nof a new driver:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
			}
			// A change of a link's state may be followed by linkwatch's
			// delayed notifications: one read or more.
			if n := nl.StateReads(f.d) - base; c.reads != (n > 0) {
				t.Fatalf("drift and plan after the change: %d reads of the kernel state, want %s", n,
					map[bool]string{true: "none", false: "one or more"}[!c.reads])
			}
			nltest.Apply(t, f.d, a, a)
			if diff := nltest.Diff(applied, f.ns.Snapshot()); diff != "" {
				t.Fatalf("the commit did not re-assert the configuration:\n%s", diff)
			}
			nltest.RequireNoSteps(t, f.d, a)
		})
	}
}

// TestCacheNexthopDeleted: deleting a nexthop object removes the routes
// that use it with no route notification, only the nexthop's.
func TestCacheNexthopDeleted(t *testing.T) {
	f := newCacheFixture(t, "nhid")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	// The same route, through a nexthop object.
	f.ns.IP("route", "del", "192.168.10.0/24", "via", "203.0.113.254", "metric", "5")
	f.ns.IP("nexthop", "add", "id", "7", "via", "203.0.113.254", "dev", "eth0")
	f.ns.IP("route", "add", "192.168.10.0/24", "nhid", "7", "proto", "176", "metric", "5")
	settle(t, f.d, a)
	base := nl.StateReads(f.d)
	f.ns.IP("nexthop", "del", "id", "7")
	requireDrift(t, f.d, a, driftEth3, driftRoute7, "route 192.168.10.0/24 nexthop 203.0.113.254 distance 5 missing")
	if nl.StateReads(f.d) == base {
		t.Fatal("the deletion of a nexthop object did not invalidate the cached state")
	}
}

// TestCacheChangeDuringRead: a change made while the state is being read
// (here: right after the dump, before the cache keeps it) is seen by the
// next plan.
func TestCacheChangeDuringRead(t *testing.T) {
	f := newCacheFixture(t, "race")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	changed := false
	nl.AfterStateRead(f.d, func() {
		if !changed {
			changed = true
			f.ns.IP("route", "del", "192.168.10.0/24", "via", "203.0.113.254", "metric", "5")
		}
	})
	nltest.RequireNoSteps(t, f.d, a) // read before the change
	if !changed {
		t.Fatal("the plan did not read the kernel state")
	}
	steps := nltest.Steps(t, f.d, a, a)
	want := "ip route 192.168.10.0/24 nexthop 203.0.113.254 distance 5: install route 192.168.10.0/24 nexthop 203.0.113.254 distance 5"
	if got := stepDescs(steps); !slices.Equal(got, []string{want}) {
		t.Fatalf("plan after a change during the read:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), want)
	}
}

// TestCacheOverrun: when more notifications arrive than the subscription
// holds, the kernel drops them and reports ENOBUFS; the state is stale all
// the same, and the next plan reads it again.
func TestCacheOverrun(t *testing.T) {
	f := newCacheFixture(t, "enobufs")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	nl.SetEventBuffer(f.d, 1) // the kernel's minimum
	settle(t, f.d, a)
	requireCached(t, f.d)
	var b strings.Builder
	const n = 200
	for k := range n {
		fmt.Fprintf(&b, "route add 10.88.%d.0/24 via 203.0.113.1 proto 176 metric 1\n", k)
	}
	f.ns.IP("-batch", writeTemp(t, b.String()))
	cached, stale, overrun := nl.CacheState(f.d)
	if !cached || !stale || !overrun {
		t.Fatalf("after %d notifications: cached=%v stale=%v overrun=%v, want stale with an overrun", n, cached, stale, overrun)
	}
	base := nl.StateReads(f.d)
	steps := nltest.Steps(t, f.d, a, a)
	requireReads(t, f.d, &base, 1, "plan after the overrun")
	if len(steps) != n {
		t.Fatalf("plan after the overrun: %d steps, want %d removals:%s", len(steps), n, nltest.StepList(steps))
	}
	// The commit plans with the state just read; its steps invalidate it
	// again: the first plan after the commit reads, the second does not.
	nltest.Apply(t, f.d, a, a)
	nltest.RequireNoSteps(t, f.d, a)
	nltest.RequireNoSteps(t, f.d, a)
	requireReads(t, f.d, &base, 1, "commit and two plans")
	requireNoLines(t, f.ns.Snapshot(), "10.88.")
}

// TestCacheClose: Close releases the subscription socket; the driver leaves
// no goroutine and no file descriptor behind.
func TestCacheClose(t *testing.T) {
	ns := nltest.NewNSPrefixed(t, cachePrefix, "close")
	ns.AddNIC("eth0")
	cfg := parse(t, "interface eth0\n enable\n ip address 10.0.0.1/24\n!\nip route 10.1.0.0/16 nexthop 10.0.0.254\n")
	fds0, g0 := countFDs(t), goruntime.NumGoroutine()
	for range 3 {
		d, err := nl.New(ns.Name)
		if err != nil {
			t.Fatal(err)
		}
		nltest.Apply(t, d, empty, cfg)
		nltest.RequireNoSteps(t, d, cfg)
		nltest.RequireNoSteps(t, d, cfg)
		fd := nl.EventSocket(d)
		if fd < 0 {
			t.Fatal("no subscription after a plan")
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || !strings.HasPrefix(l, "socket:") {
			t.Fatalf("subscription fd %d: %q %v", fd, l, err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if fd := nl.EventSocket(d); fd != -1 {
			t.Fatalf("subscription fd %d still open after Close", fd)
		}
		if _, err := d.Plan(context.Background(), cfg, cfg); err == nil {
			t.Fatal("Plan after Close succeeded")
		}
		if _, err := d.Drift(context.Background(), cfg); err == nil {
			t.Fatal("Drift after Close succeeded")
		}
		d2, err := nl.New(ns.Name)
		if err != nil {
			t.Fatal(err)
		}
		nltest.Apply(t, d2, cfg, empty)
		d2.Close()
	}
	// The namespace threads exit asynchronously once closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		fds, g := countFDs(t), goruntime.NumGoroutine()
		if fds <= fds0 && g <= g0 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("after Close: %d fds (%d before), %d goroutines (%d before)\n%s", fds, fds0, g, g0, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
