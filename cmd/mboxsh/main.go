// Command mboxsh is a Cisco-style configuration shell for Linux VPN/router
// appliances: interactive on a terminal, batch from a pipe, `-f FILE` or
// `-c CMD`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/term"

	"mboxsh/persist"
	"mboxsh/shell"
	"mboxsh/shell/commands"
	"mboxsh/shell/lineedit"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	file         string
	cmds         multiFlag
	keepGoing    bool
	stateDir     string
	netns        string
	offline      bool
	applyStartup bool
	watchdog     bool
}

// memoryLimit is the Go heap size the garbage collector works to stay
// under (unless GOMEMLIMIT says otherwise): an appliance shell should not
// let the heap double after loading a configuration of 10,000 rules.
const memoryLimit = 80 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

// profiled runs f with a CPU profile written to the file named by
// MBOXSH_CPUPROFILE, when set (performance work: `go tool pprof`).
func profiled(f func() int) int {
	path := os.Getenv("MBOXSH_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mboxsh: MBOXSH_CPUPROFILE: %v\n", err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "mboxsh: MBOXSH_CPUPROFILE: %v\n", err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/etc/mboxsh"
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "mboxsh")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".config", "mboxsh")
	}
	return ".mboxsh"
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("mboxsh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.file, "f", "", "run the commands in `FILE` (batch mode)")
	fs.Var(&o.cmds, "c", "run `CMD` (repeatable; batch mode)")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "in batch mode, report all errors instead of stopping at the first")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "`DIR` holding startup-config, running-config and the commit archive")
	fs.StringVar(&o.netns, "netns", "", "act on the named network namespace `NAME`")
	fs.BoolVar(&o.offline, "offline", false, "commit to the state directory only; touch no kernel")
	fs.BoolVar(&o.applyStartup, "apply-startup", false, "apply startup-config to the system and exit (at boot)")
	fs.BoolVar(&o.watchdog, "confirm-watchdog", false, "internal: roll back an unconfirmed `commit confirmed`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mboxsh: unexpected argument %q (commands go after -c)\n", fs.Arg(0))
		return 2
	}
	if !o.offline && os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "%% mboxsh changes the kernel's configuration and needs root.\n"+
			"%% Run it as root, or use --offline to prepare and check configurations without applying them:\n"+
			"%%   mboxsh --offline\n")
		return 2
	}
	store, err := persist.Open(o.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "%% state directory: %v\n", err)
		return 2
	}
	var sys *system
	if !o.offline {
		sys = newSystem(o.netns, o.stateDir)
		defer sys.Close()
	}
	backend := backendOf(sys)
	if o.watchdog {
		return runWatchdog(store, sys, stderr)
	}
	interactive := o.file == "" && len(o.cmds) == 0 && !o.applyStartup && term.IsTerminal(int(stdin.Fd()))
	username := "-"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	recoverPending(store, backend, o, stderr)
	sess, err := shell.New(shell.Options{
		Store: store, Backend: backend, User: username,
		Interactive: interactive, Out: stdout, Err: stderr,
		Styled:           interactive && isTerminal(stdout) && os.Getenv("TERM") != "dumb" && os.Getenv("TERM") != "",
		Commands:         append(commands.All(), showCommands(sys)...),
		SystemInterfaces: sys.interfaceNames,
		StartWatchdog:    func() error { return startWatchdog(o) },
		ConfirmUnit:      confirmUnit(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "%% %v\n", err)
		return 2
	}
	if o.applyStartup {
		return applyStartup(sess, stderr)
	}
	if interactive {
		hist, err := lineedit.NewHistory(filepath.Join(o.stateDir, "history-"+sanitize(username)), 500)
		if err != nil {
			fmt.Fprintf(stderr, "%% history: %v\n", err)
		}
		if err := sess.RunInteractive(stdin, hist); err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "%% %v\n", err)
			return 1
		}
		return 0
	}
	var errs int
	switch {
	case len(o.cmds) > 0:
		var lines []shell.Line
		for i, c := range o.cmds {
			lines = append(lines, shell.Line{Text: c, File: "-c", No: i + 1})
		}
		errs = sess.RunBatch(lines, o.keepGoing)
	case o.file != "":
		f, err := os.Open(o.file)
		if err != nil {
			fmt.Fprintf(stderr, "%% %v\n", err)
			return 2
		}
		errs = sess.RunBatchReader(f, o.file, o.keepGoing)
		f.Close()
	default:
		// Lines run as they arrive: a program may wait for each answer.
		errs = sess.RunBatchReader(stdin, "-", o.keepGoing)
	}
	if errs > 0 {
		return 1
	}
	return 0
}

// confirmUnit is the unit of `commit confirmed N`: a minute. Test hook:
// MBOXSH_CONFIRM_UNIT (a duration such as "1s", or a unit such as "s")
// shortens it so that tests of the automatic rollback take seconds. It is
// ignored unless it is shorter than a minute, so it can only bring the
// rollback forward, never postpone it.
func confirmUnit() time.Duration {
	v := os.Getenv("MBOXSH_CONFIRM_UNIT")
	if v == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		d, err = time.ParseDuration("1" + v)
	}
	if err != nil || d <= 0 || d >= time.Minute {
		return time.Minute
	}
	return d
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
