package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"mboxsh/config"
	"mboxsh/persist"
	"mboxsh/runtime"
)

// WatchdogLock is the lock file a rollback watchdog holds while it waits.
const WatchdogLock = "watchdog.lock"

// LockWatchdog takes the watchdog lock of a state directory without
// waiting; ok is false when another watchdog holds it. The lock lasts
// until the returned file is closed or the process exits.
func LockWatchdog(dir string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(dir, WatchdogLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// RunConfirmWatchdog waits for the deadline of a pending `commit
// confirmed`; if nobody confirmed it by then, it restores the previous
// configuration on the system and in the store. It returns when there is
// nothing left to do.
func RunConfirmWatchdog(ctx context.Context, store *persist.Store, backend Backend, log io.Writer) error {
	lock, ok, err := LockWatchdog(store.Dir())
	if err != nil {
		return err
	}
	if !ok {
		return nil // another watchdog is on duty
	}
	defer lock.Close()
	for {
		p, err := store.Pending()
		if err != nil {
			return err
		}
		if p == nil {
			return nil // confirmed
		}
		if wait := time.Until(p.Deadline); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, time.Second)):
			}
			continue
		}
		return RollbackPending(ctx, store, backend, log)
	}
}

// RollbackPending restores the configuration saved by an unconfirmed
// `commit confirmed`, if the pending record is still there.
func RollbackPending(ctx context.Context, store *persist.Store, backend Backend, log io.Writer) error {
	p, err := store.TakePending()
	if err != nil || p == nil {
		return err
	}
	prev, err := config.Parse(p.Previous, "previous configuration")
	if err != nil {
		return fmt.Errorf("commit confirmed: the saved configuration is unreadable: %w", err)
	}
	cur := &config.Config{}
	if text, err := store.ReadRunning(); err == nil {
		if c, err := config.Parse(text, "running-config"); err == nil {
			cur = c
		}
	}
	if backend != nil {
		drivers, err := backend.Drivers(ctx)
		if err != nil {
			return err
		}
		if _, err := runtime.Apply(ctx, drivers, cur, prev, runtime.Options{}); err != nil {
			return fmt.Errorf("commit confirmed: automatic rollback failed: %w", err)
		}
	}
	text := []byte(config.Render(prev))
	if err := store.WriteRunning(text); err != nil {
		return err
	}
	if _, err := store.Archive(text, persist.Meta{User: "mboxsh", Comment: "automatic rollback: commit confirmed was not confirmed"}); err != nil {
		fmt.Fprintf(log, "mboxsh: archive: %v\n", err)
	}
	fmt.Fprintf(log, "mboxsh: commit confirmed not confirmed by %s: previous configuration restored\n", p.Deadline.Format(time.RFC3339))
	return nil
}

// ApplyStartup makes the system match the startup configuration (at boot).
func (s *Session) ApplyStartup() error {
	if s.Store == nil {
		return fmt.Errorf("no state directory")
	}
	text, err := s.Store.ReadStartup()
	if err != nil {
		return fmt.Errorf("startup-config: %w", err)
	}
	cfg, err := config.Parse(text, filepath.Join(s.Store.Dir(), "startup-config"))
	if err != nil {
		return err
	}
	s.setCandidate(cfg)
	s.Dirty = true
	return s.Commit(CommitOptions{Comment: "apply startup-config"}, nil)
}
