package netlink

import (
	"fmt"
	"testing"

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
