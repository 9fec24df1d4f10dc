package netlink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"mboxsh/config"
	"mboxsh/runtime"
)

// RouteProtocol is the rtnetlink protocol number (rtm_protocol) mboxsh
// installs its static routes and default gateway with. It is 0xb0 (176), a
// number neither the kernel, iproute2 nor FRR use (FRR: 11 zebra, 186 bgp,
// 188 ospf, 196 static, …), so `ip route` shows `proto 176` and mboxsh can
// tell its own routes from routes of the kernel, DHCP, FRR or the
// administrator. An /etc/iproute2/rt_protos.d/mboxsh.conf line
// "176 mboxsh" makes `ip route` print the name.
//
// Note for the FRR driver: zebra sees these routes as kernel routes (K), so
// OSPF redistributes them with `redistribute kernel`, not `redistribute static`.
const RouteProtocol vnl.RouteProtocol = 0xb0

// Driver is the netlink driver of one network namespace. It is safe for use
// by one goroutine at a time, like a commit.
type Driver struct {
	nsName string
	ns     netns.NsHandle
	h      *vnl.Handle
	// hs has strict checking on (NETLINK_GET_STRICT_CHK): the kernel then
	// applies the filters of a dump request itself, so the routes through
	// one link come without reading the whole table. nil when the kernel
	// refuses it (before 4.20): h and a filter in Go are used instead.
	hs    *vnl.Handle
	sys   *nsThread
	cache *stateCache // Plan's and Drift's view of the kernel
	// created names the links the running transaction created: the steps
	// that then configure such a link need no snapshot to undo, since
	// undoing the creation removes the link with all of it. Plan starts
	// a new transaction.
	created map[string]bool

	mu     sync.Mutex
	closed atomic.Bool
}

var _ runtime.Driver = (*Driver)(nil)

// New opens a driver for the network namespace nsName, as created by
// `ip netns add NAME` (/var/run/netns/NAME); "" is the namespace of the
// calling thread.
func New(nsName string) (*Driver, error) {
	var (
		ns  netns.NsHandle
		err error
	)
	if nsName == "" {
		ns, err = netns.Get()
	} else {
		ns, err = netns.GetFromName(nsName)
	}
	if err != nil {
		return nil, fmt.Errorf("network namespace %q: %w", nsDisplay(nsName), err)
	}
	h, err := vnl.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("network namespace %q: opening netlink socket: %w", nsDisplay(nsName), err)
	}
	hs, err := vnl.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("network namespace %q: opening netlink socket: %w", nsDisplay(nsName), err)
	}
	if hs.SetStrictCheck(true) != nil {
		hs.Close()
		hs = nil
	}
	sys, err := startNSThread(ns)
	if err != nil {
		if hs != nil {
			hs.Close()
		}
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("network namespace %q: %w", nsDisplay(nsName), err)
	}
	return &Driver{nsName: nsName, ns: ns, h: h, hs: hs, sys: sys, cache: newStateCache()}, nil
}

func nsDisplay(name string) string {
	if name == "" {
		return "(current)"
	}
	return name
}

// Name implements runtime.Driver.
func (d *Driver) Name() string { return "netlink" }

// Namespace returns the namespace name given to New.
func (d *Driver) Namespace() string { return d.nsName }

// Close releases the netlink sockets, the namespace thread and handle.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	d.cache.close()
	d.sys.close()
	if d.hs != nil {
		d.hs.Close()
	}
	d.h.Close()
	return d.ns.Close()
}

// usable fails once the driver is closed. It guards every entry point: a
// closed vishvananda handle would silently fall back to the namespace of
// the calling thread.
func (d *Driver) usable() error {
	if d.closed.Load() {
		return errDriverClosed
	}
	return nil
}

// Plan implements runtime.Driver.
func (d *Driver) Plan(ctx context.Context, from, to *config.Config) ([]runtime.Step, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from == nil {
		from = &config.Config{}
	}
	if to == nil {
		to = &config.Config{}
	}
	changes, err := d.diff(from, to)
	if err != nil {
		return nil, err
	}
	d.created = map[string]bool{}
	var steps []runtime.Step
	for _, c := range changes {
		if c.step != nil {
			steps = append(steps, *c.step)
		}
	}
	return steps, nil
}

// Drift implements runtime.Driver: one line for every place where the
// kernel differs from cfg in what this driver manages.
func (d *Driver) Drift(ctx context.Context, cfg *config.Config) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &config.Config{}
	}
	changes, err := d.diff(&config.Config{}, cfg)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, c := range changes {
		if c.drift != "" {
			lines = append(lines, c.drift)
		}
	}
	return lines, nil
}

// maxDumpRetries bounds the retries of a dump the kernel interrupted
// (NLM_F_DUMP_INTR: the object list changed while it was being read).
const maxDumpRetries = 20

// retryDump runs a dump until it completes without interruption.
func retryDump[T any](what string, f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range maxDumpRetries {
		v, err = f()
		if !errors.Is(err, vnl.ErrDumpInterrupted) {
			if err != nil {
				return v, fmt.Errorf("reading %s: %w", what, explain(err))
			}
			return v, nil
		}
	}
	return v, fmt.Errorf("reading %s: the kernel's list kept changing while being read (%d attempts): %w", what, maxDumpRetries, err)
}

// linkByName returns the link called name, or nil if there is none.
func (d *Driver) linkByName(name string) (vnl.Link, error) {
	l, err := retryDump("interface "+name, func() (vnl.Link, error) { return d.h.LinkByName(name) })
	if err != nil {
		var nf vnl.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, err
	}
	return l, nil
}

func (d *Driver) linkByIndex(idx int) (vnl.Link, error) {
	l, err := retryDump("interface list", func() (vnl.Link, error) { return d.h.LinkByIndex(idx) })
	if err != nil {
		var nf vnl.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, err
	}
	return l, nil
}
