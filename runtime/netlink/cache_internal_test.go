package netlink

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"mboxsh/runtime/netlink/internal/nltest"
)

// BenchmarkCachedPlanParts measures what a cached plan still reads from the
// kernel every time, on benchmark-sized links: the link list, a sysctl
// (ip_forward; rp_filter of each tunnel costs the same), and the check of
// the subscription.
func BenchmarkCachedPlanParts(b *testing.B) {
	ns := nltest.NewNSPrefixed(b, "mbxnlc-", "bench-p")
	var names []string
	for i := range 16 {
		names = append(names, fmt.Sprintf("eth%d", i))
	}
	ns.AddNIC(names...)
	d, err := New(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.Run("links", func(b *testing.B) {
		for range b.N {
			if _, err := d.readLinks(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sysctl", func(b *testing.B) {
		for range b.N {
			if _, _, err := d.readSysctl(ipForwardParts()...); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := d.plannedState(); err != nil {
		b.Fatal(err)
	}
	b.Run("poll", func(b *testing.B) {
		for range b.N {
			if stale, _ := d.cache.pending(); stale {
				b.Fatal("stale")
			}
		}
	})
}

// TestRoutesViaKernelFilter checks that the routes of one link read with the
// kernel's dump filter (strict checking) are exactly those the whole table
// has through it, IPv4 and IPv6, with other links' routes left out.
func TestRoutesViaKernelFilter(t *testing.T) {
	ns := nltest.NewNSPrefixed(t, "mbxnlc-", "via")
	ns.NoDAD()
	ns.AddNIC("eth0", "eth1")
	for _, dev := range []string{"eth0", "eth1"} {
		ns.IP("link", "set", dev, "up")
	}
	ns.IP("addr", "add", "10.0.0.1/24", "dev", "eth0")
	ns.IP("addr", "add", "10.1.0.1/24", "dev", "eth1")
	ns.IP("addr", "add", "2001:db8::1/64", "dev", "eth0")
	for i := range 20 {
		ns.IP("route", "add", fmt.Sprintf("172.16.%d.0/24", i), "via", "10.0.0.254", "proto", "176")
		ns.IP("route", "add", fmt.Sprintf("172.17.%d.0/24", i), "via", "10.1.0.254")
	}
	ns.IP("route", "add", "2001:db8:1::/48", "via", "2001:db8::fe", "dev", "eth0")
	d, err := New(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.hs == nil {
		t.Fatal("this kernel refuses strict checking of dump requests (NETLINK_GET_STRICT_CHK, Linux 4.20)")
	}
	l, err := d.linkByName("eth0")
	if err != nil || l == nil {
		t.Fatalf("eth0: %v", err)
	}
	devs := map[int]string{l.Attrs().Index: "eth0"}
	got, err := d.routesVia(devs)
	if err != nil {
		t.Fatal(err)
	}
	hs := d.hs
	d.hs = nil // the fallback: the whole table, filtered here
	want, err := d.routesVia(devs)
	d.hs = hs
	if err != nil {
		t.Fatal(err)
	}
	key := func(rs []vnl.Route) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.String())
		}
		slices.Sort(out)
		return out
	}
	if g, w := key(got), key(want); !slices.Equal(g, w) {
		t.Fatalf("kernel-filtered routes differ from the filtered table:\n got %q\nwant %q", g, w)
	}
	n172, n6 := 0, 0
	for _, r := range got {
		if r.LinkIndex != l.Attrs().Index {
			t.Errorf("route through another link: %v", r)
		}
		if r.Dst != nil && strings.HasPrefix(r.Dst.String(), "172.16.") {
			n172++
		}
		if r.Dst != nil && r.Dst.String() == "2001:db8:1::/48" {
			n6++
		}
	}
	if n172 != 20 || n6 != 1 {
		t.Fatalf("have %d of the 20 IPv4 routes and %d of the IPv6 route through eth0: %v", n172, n6, got)
	}
}

// BenchmarkRoutesVia reads the routes of one link beside 1,000 routes
// through another, with the kernel's filter and with the whole table.
func BenchmarkRoutesVia(b *testing.B) {
	ns := nltest.NewNSPrefixed(b, "mbxnlc-", "viab")
	ns.AddNIC("eth0", "eth1")
	ns.IP("link", "set", "eth0", "up")
	ns.IP("link", "set", "eth1", "up")
	ns.IP("addr", "add", "10.0.0.1/24", "dev", "eth0")
	ns.IP("addr", "add", "10.1.0.1/16", "dev", "eth1")
	var batch strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&batch, "route add 172.%d.%d.0/24 via 10.1.0.254\n", 16+i/256, i%256)
	}
	ns.Batch(batch.String())
	d, err := New(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	l, _ := d.linkByName("eth0")
	devs := map[int]string{l.Attrs().Index: "eth0"}
	b.Run("kernel-filter", func(b *testing.B) {
		for range b.N {
			if _, err := d.routesVia(devs); err != nil {
				b.Fatal(err)
			}
		}
	})
	hs := d.hs
	d.hs = nil
	defer func() { d.hs = hs }()
	b.Run("whole-table", func(b *testing.B) {
		for range b.N {
			if _, err := d.routesVia(devs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
