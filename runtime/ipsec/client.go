package ipsec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/strongswan/govici/vici"
	"golang.org/x/sys/unix"
)

// client is one VICI command session that reconnects when charon goes
// away. govici's CallStreaming releases the session lock before the stream
// is consumed, so client serialises every call itself.
type client struct {
	mu   sync.Mutex
	path string
	sess *vici.Session
}

// errCommand marks a command charon answered with success=no, as opposed
// to a broken connection.
type cmdError struct {
	cmd string
	err error
}

func (e *cmdError) Error() string { return fmt.Sprintf("charon %s: %v", e.cmd, e.err) }
func (e *cmdError) Unwrap() error { return e.err }

func isCmdError(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce)
}

// dialVici opens a session on a VICI socket and returns the credentials of
// the process that listens on it.
func dialVici(ctx context.Context, path string) (*vici.Session, *unix.Ucred, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, err
	}
	var cred *unix.Ucred
	if uc, ok := conn.(*net.UnixConn); ok {
		if rc, err := uc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
			})
		}
	}
	s, err := vici.NewSession(vici.WithDialContext(func(context.Context, string, string) (net.Conn, error) {
		return conn, nil
	}))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return s, cred, nil
}

// probeVici tells whether a charon answers on path, and its pid.
func probeVici(ctx context.Context, path string) (pid int, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, cred, err := dialVici(ctx, path)
	if err != nil {
		return 0, false
	}
	defer s.Close()
	if _, err := s.Call(ctx, "version", nil); err != nil {
		return 0, false
	}
	if cred != nil {
		pid = int(cred.Pid)
	}
	return pid, true
}

func (c *client) session(ctx context.Context) (*vici.Session, error) {
	if c.sess != nil {
		return c.sess, nil
	}
	s, _, err := dialVici(ctx, c.path)
	if err != nil {
		return nil, fmt.Errorf("connecting to charon at %s: %w", c.path, err)
	}
	c.sess = s
	return s, nil
}

func (c *client) drop() {
	if c.sess != nil {
		c.sess.Close()
		c.sess = nil
	}
}

// withDeadline makes sure ctx has a deadline: govici arms the socket's
// read deadline 5 s past it (or 5 s from now without one), and a call that
// outlives that breaks the session.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// call runs one command; on a broken connection it reconnects once and
// retries (charon may have been restarted).
func (c *client) call(ctx context.Context, cmd string, in *vici.Message) (*vici.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := withDeadline(ctx, 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		m, err := s.Call(ctx, cmd, in)
		if err == nil {
			return m, nil
		}
		if m != nil { // charon answered: the command failed
			return m, &cmdError{cmd, err}
		}
		c.drop()
		if attempt > 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("charon %s: %w", cmd, err)
		}
	}
}

// stream runs a streaming command and collects its events.
func (c *client) stream(ctx context.Context, cmd, event string, in *vici.Message) ([]*vici.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := withDeadline(ctx, 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		var out []*vici.Message
		var serr error
		answered := false
		for m, err := range s.CallStreaming(ctx, cmd, event, in) {
			if err != nil {
				serr = err
				answered = m != nil
				break
			}
			answered = true
			out = append(out, m)
		}
		if serr == nil {
			return out, nil
		}
		if answered {
			return out, &cmdError{cmd, serr}
		}
		c.drop()
		if attempt > 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("charon %s: %w", cmd, serr)
		}
	}
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
}
