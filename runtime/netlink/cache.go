package netlink

import (
	"fmt"
	"sync"
	"sync/atomic"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// stateCache keeps the bulk of the kernel state that Plan and Drift read
// (every address and the main routing table: a thousand routes take
// milliseconds to dump and parse) for as long as none of it can have
// changed.
//
// Before it reads the state, the driver opens a rtnetlink socket in the
// namespace that joins the notification groups of links, IPv4 and IPv6
// addresses and routes, and nexthop objects, and never reads from it. For
// every change of those objects, including changes made by mboxsh's own
// steps, the kernel queues a notification on that socket, or marks it with
// ENOBUFS when the queue is full or a notification could not be built,
// before the system call that made the change returns. So the cached
// addresses and routes are current exactly while the socket has nothing
// queued and no error pending, which one non-blocking poll(2) tells. As the
// socket is subscribed before the read starts, a change made during the read
// leaves a notification behind: that read is used once and the next Plan
// reads again.
//
// A stale state is dropped together with its socket and whatever is queued
// on it; the next read opens a new one. Nothing runs in the background: no
// goroutine to stop, and no window in which a notification has been
// consumed but not yet counted. A change that completed before Plan started
// is always seen.
//
// The kernel changes routes without route notifications when a link goes
// down or loses an address (the IPv4 routes through it are flushed), and
// route flags with the carrier; those changes notify the link or address,
// and any notification invalidates everything. Links are not cached: a link
// that is down gets no notification when its description (ifalias) or its
// tunnel or VLAN parameters change (netdev_state_change notifies only up
// links), so Plan reads the links, a short list, every time (about 0.35 ms
// for 33 links on a loaded test host). Sysctls (ip_forward, rp_filter) have
// no rtnetlink notification either and are read every time too (about
// 40 µs each, mostly the hand-off to the namespace thread).
// BenchmarkCachedPlanParts measures these parts.
type stateCache struct {
	mu     sync.Mutex
	fd     int                // subscribed socket; -1 = none
	addrs  map[int][]vnl.Addr // read after fd was subscribed; nil = none
	routes []vnl.Route
	// rcvbuf is the SO_RCVBUF of new subscriptions. Nothing is ever read
	// from them: a small queue is enough (it overflows into ENOBUFS, which
	// invalidates like any notification) and holds little kernel memory.
	rcvbuf int
	// afterRead, when set (tests), runs after a full read, before the
	// cache is filled.
	afterRead func()

	reads atomic.Uint64 // reads of all addresses and routes
}

// eventRcvbuf is the default rcvbuf of a subscription (the kernel doubles
// it and enforces its own minimum).
const eventRcvbuf = 4096

// eventGroups are the rtnetlink multicast groups of the cached objects, as
// the legacy bit mask (group n is bit n-1). Nexthop objects (group 32,
// beyond the mask) are joined with NETLINK_ADD_MEMBERSHIP: deleting one
// removes the routes that use it without route notifications.
const eventGroups = unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV4_ROUTE |
	unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV6_ROUTE

func newStateCache() *stateCache { return &stateCache{fd: -1, rcvbuf: eventRcvbuf} }

// plannedState returns the kernel state for Plan and Drift: the links read
// now, with the cached addresses and routes while no notification arrived
// since they were read, else with new ones.
func (d *Driver) plannedState() (*kstate, error) {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := d.usable(); err != nil {
		return nil, err
	}
	if c.addrs != nil {
		// Links first, then the check: the cached part is then known to
		// be current at least until the links were read.
		links, err := d.readLinks()
		if err != nil {
			return nil, err
		}
		if stale, _ := c.pending(); !stale {
			return newKstate(links, c.addrs, c.routes), nil
		}
	}
	c.drop()
	// Subscribe first: whatever changes from now on leaves a notification.
	fd, serr := d.subscribe(c.rcvbuf)
	st, err := d.readState()
	if err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return nil, err
	}
	if c.afterRead != nil {
		c.afterRead()
	}
	if serr == nil { // without a subscription nothing can be cached: read every time
		c.fd, c.addrs, c.routes = fd, st.addrs, st.routes
	}
	return st, nil
}

// subscribe opens a non-blocking rtnetlink socket in the namespace that is
// a member of the groups of the cached objects. A thread of the namespace
// creates it: a socket belongs to the namespace it was created in.
func (d *Driver) subscribe(rcvbuf int) (int, error) {
	fd := -1
	err := d.sys.run(func() error {
		s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		if rcvbuf > 0 {
			if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
				unix.Close(s)
				return err
			}
		}
		if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: eventGroups}); err != nil {
			unix.Close(s)
			return err
		}
		// Kernels without nexthop objects (before 5.3) refuse the group;
		// they have no such objects to change either.
		_ = unix.SetsockoptInt(s, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, unix.RTNLGRP_NEXTHOP)
		fd = s
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("subscribing to change notifications: %w", explain(err))
	}
	return fd, nil
}

// pending tells whether a notification is queued on the subscription or an
// error (ENOBUFS: notifications were lost) is pending: the cached state may
// be stale. Without a subscription it is always stale.
func (c *stateCache) pending() (stale, overrun bool) {
	if c.fd < 0 {
		return true, false
	}
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	for range 10 {
		// A signal (the Go runtime preempts goroutines with SIGURG) makes
		// poll fail with EINTR even without a timeout.
		if err != unix.EINTR {
			break
		}
		n, err = unix.Poll(pfd, 0)
	}
	if err != nil { // cannot tell, so stale
		return true, false
	}
	if n == 0 {
		return false, false
	}
	return true, pfd[0].Revents&unix.POLLERR != 0
}

// drop forgets the cached state and closes its subscription.
func (c *stateCache) drop() {
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	c.fd, c.addrs, c.routes = -1, nil, nil
}

func (c *stateCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
}
