package netlink

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that lives in the driver's
// network namespace. The kernel resolves /proc/sys/net/… in the network
// namespace of the *thread* that opens the file, so the router sysctls of the
// namespace can only be read and written from such a thread.
//
// The thread enters the namespace once, at start, and never leaves it: the
// goroutine keeps it locked and exits without unlocking, so the Go runtime
// destroys the thread rather than reusing it for other goroutines.
type nsThread struct {
	mu     sync.Mutex
	reqs   chan func()
	closed bool
}

func startNSThread(ns netns.NsHandle) (*nsThread, error) {
	t := &nsThread{reqs: make(chan func())}
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// No UnlockOSThread, on purpose: see the type comment.
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("entering the namespace for sysctls: %w", err)
			return
		}
		started <- nil
		for f := range t.reqs {
			f()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return t, nil
}

var errDriverClosed = errors.New("netlink driver is closed")

// run executes f on the namespace thread and waits for it.
func (t *nsThread) run(f func() error) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errDriverClosed
	}
	done := make(chan error, 1)
	t.reqs <- func() { done <- f() }
	t.mu.Unlock()
	return <-done
}

func (t *nsThread) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.reqs)
	}
}

// sysctlPath turns "net.ipv4.conf.tun0.rp_filter" into its /proc/sys path.
// Interface names may not contain '/' but may contain '.', so the caller
// passes the components.
func sysctlPath(parts ...string) string {
	return "/proc/sys/" + strings.Join(parts, "/")
}

func sysctlName(parts ...string) string { return strings.Join(parts, ".") }

// readSysctl reads one value in the namespace, trimmed. A missing file
// (ENOENT) is reported as ok=false with no error.
func (d *Driver) readSysctl(parts ...string) (val string, ok bool, err error) {
	path := sysctlPath(parts...)
	err = d.sys.run(func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		buf := make([]byte, 256)
		n, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		val = strings.TrimSpace(string(buf[:n]))
		ok = true
		return nil
	})
	if errors.Is(err, unix.ENOENT) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading sysctl %s: %w", sysctlName(parts...), explain(err))
	}
	return val, ok, nil
}

// writeSysctl writes one value in the namespace.
func (d *Driver) writeSysctl(val string, parts ...string) error {
	path := sysctlPath(parts...)
	err := d.sys.run(func() error {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte(val+"\n"))
		return err
	})
	if err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", sysctlName(parts...), val, explain(err))
	}
	return nil
}

const (
	rpFilterLoose = "2"
)

func ipForwardParts() []string { return []string{"net", "ipv4", "ip_forward"} }

func rpFilterParts(ifname string) []string {
	return []string{"net", "ipv4", "conf", ifname, "rp_filter"}
}
