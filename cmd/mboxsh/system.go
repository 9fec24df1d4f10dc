package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"mboxsh/persist"
	"mboxsh/runtime"
	rtsystem "mboxsh/runtime/system"
	"mboxsh/shell"
	"mboxsh/shell/commands"
)

// system is the live appliance: nil in offline mode (every method copes).
type system struct{ *rtsystem.System }

func newSystem(netns, stateDir string) *system {
	return &system{rtsystem.New(netns, "")}
}

func (s *system) Drivers(ctx context.Context) ([]runtime.Driver, error) {
	return s.System.Drivers(ctx)
}

func (s *system) Close() {
	if s != nil {
		_ = s.System.Close()
	}
}

// interfaceNames lists the kernel's interfaces for Tab completion.
func (s *system) interfaceNames() []string {
	if s == nil {
		return nil
	}
	nl, err := s.Netlink()
	if err != nil {
		return nil
	}
	st, err := nl.Interfaces(context.Background(), nil)
	if err != nil {
		return nil
	}
	var names []string
	for _, i := range st {
		names = append(names, i.Name)
	}
	return names
}

func showCommands(s *system) []*shell.Command {
	if s == nil {
		return commands.Show(nil)
	}
	return commands.Show(s.System)
}

func backendOf(s *system) shell.Backend {
	if s == nil {
		return nil
	}
	return s
}

// startWatchdog starts a detached mboxsh that rolls an unconfirmed
// `commit confirmed` back, even when this shell is closed.
func startWatchdog(o options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"--state-dir", o.stateDir, "--confirm-watchdog"}
	if o.netns != "" {
		args = append(args, "--netns", o.netns)
	}
	if o.offline {
		args = append(args, "--offline")
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func runWatchdog(store *persist.Store, sys *system, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := shell.RunConfirmWatchdog(ctx, store, backendOf(sys), stderr); err != nil {
		fmt.Fprintf(stderr, "mboxsh watchdog: %v\n", err)
		return 1
	}
	return 0
}

// recoverPending acts on a `commit confirmed` whose watchdog is gone: past
// its deadline the previous configuration is restored now; otherwise a new
// watchdog is started.
// It runs before the session reads the running configuration, so that the
// session starts from the restored one.
func recoverPending(store *persist.Store, backend shell.Backend, o options, stderr io.Writer) {
	p, err := store.Pending()
	if err != nil || p == nil {
		return
	}
	lock, free, err := shell.LockWatchdog(store.Dir())
	if err != nil || !free {
		return // a watchdog is on duty
	}
	lock.Close()
	if time.Now().After(p.Deadline) {
		if err := shell.RollbackPending(context.Background(), store, backend, stderr); err != nil {
			fmt.Fprintf(stderr, "%% %v\n", err)
		}
		return
	}
	if err := startWatchdog(o); err != nil {
		fmt.Fprintf(stderr, "%% commit confirmed: cannot start the rollback watchdog: %v\n", err)
	}
}

func applyStartup(sess *shell.Session, stderr io.Writer) int {
	if err := sess.ApplyStartup(); err != nil {
		fmt.Fprintf(stderr, "%% apply-startup: %v\n", err)
		return 1
	}
	return 0
}
