// Package shell is mboxsh's command interpreter: a session holds the
// running configuration and a candidate, walks the IOS-style modes, runs
// exec commands and configuration statements through one grammar, and
// commits the candidate through the runtime. The same Exec serves the
// interactive terminal, batch files, `-c` and pasted configurations.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"mboxsh/config"
	"mboxsh/config/grammar"
	"mboxsh/persist"
	"mboxsh/runtime"
	"mboxsh/shell/modes"
)

// Backend is the live system a session commits to. A nil Backend is the
// offline mode: commits go to the state directory only.
type Backend interface {
	// Drivers returns the runtime drivers, opening them on first use.
	Drivers(ctx context.Context) ([]runtime.Driver, error)
}

// Command is a shell command (not a configuration statement), declared
// once: syntax and help for the grammar, where it is available, and what
// it does.
type Command struct {
	Syntax string
	Help   map[string]string
	Hidden bool
	// Levels where the command exists. Configure means every
	// configuration mode.
	Levels []modes.Level
	Run    func(s *Session, a grammar.Args, out *Output) error
}

// Options configure a session.
type Options struct {
	Store   *persist.Store
	Backend Backend // nil: offline
	User    string
	// Interactive sessions ask before discarding changes and print commit
	// summaries on the output; batch sessions report on the error stream.
	Interactive bool
	// Styled allows SGR attributes in interactive output (the output is
	// a terminal and TERM is not dumb). Nothing probes the terminal.
	Styled bool
	// Batch sessions start in privileged exec; interactive ones in user
	// exec unless Privileged is set.
	Privileged bool
	Out, Err   io.Writer
	// Ask puts a question to the user in interactive sessions and
	// returns the answer line.
	Ask func(question string) string
	// Commands are the shell's own commands.
	Commands []*Command
	// SystemInterfaces lists the kernel's interfaces, for completion.
	SystemInterfaces func() []string
	// StartWatchdog starts the process that rolls a `commit confirmed`
	// back when it is not confirmed in time, even if this shell dies.
	StartWatchdog func() error
	// ConfirmUnit is the unit of `commit confirmed N`; 0 means a minute.
	// Only tests shorten it (see MBOXSH_CONFIRM_UNIT in cmd/mboxsh).
	ConfirmUnit time.Duration
}

// Session is one user's shell.
type Session struct {
	Options
	// conf compiles the grammar of the configuration modes on first use
	// (see Grammar).
	conf    func() (*config.Grammar, error)
	user    *grammar.Set // user exec
	exec    *grammar.Set // privileged exec
	Running *config.Config
	Cand    *config.Config
	Ed      *config.Editor
	Level   modes.Level
	// Dirty is set when the candidate was edited since the last commit.
	Dirty bool
	// TermLength is the pager length (0 = no paging).
	TermLength int
	// Exit is set when the session should end.
	Exit bool
	// Pos is the current source line in batch mode (for messages).
	Pos config.Pos

	// runningOf and runningText cache the rendering of Running, for
	// markEdited.
	runningOf   *config.Config
	runningText string
}

// cleanCheckMax bounds the configurations (in bytes of text) for which
// markEdited compares the candidate with the running configuration.
const cleanCheckMax = 64 << 10

// markEdited updates Dirty after a configuration statement was applied.
// Once dirty, the session stays so until commit or abort. While it is
// clean, a statement that left the candidate equal to the running config
// (entering an existing block, `hostname` with the current name) keeps it
// clean, so `conf t` / `int eth0` / `end` asks no question. The check
// renders the candidate, so it is skipped for large configurations (a
// paste of one would otherwise be quadratic).
func (s *Session) markEdited() {
	if s.Dirty {
		return
	}
	run := s.runningRendered()
	s.Dirty = len(run) > cleanCheckMax || config.Render(s.Cand) != run
}

// runningRendered is the running configuration's text, rendered once per
// running configuration.
func (s *Session) runningRendered() string {
	if s.runningOf != s.Running {
		s.runningOf, s.runningText = s.Running, config.Render(s.Running)
	}
	return s.runningText
}

// New starts a session on the running configuration stored in opts.Store.
func New(opts Options) (*Session, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Err == nil {
		opts.Err = os.Stderr
	}
	s := &Session{Options: opts, Level: modes.User}
	if opts.Privileged || !opts.Interactive {
		s.Level = modes.Privileged
	}
	var userCmds, execCmds []*grammar.Command
	extra := map[config.Mode][]*grammar.Command{}
	for _, c := range opts.Commands {
		for _, l := range c.Levels {
			switch l {
			case modes.User:
				userCmds = append(userCmds, c.grammar())
			case modes.Privileged:
				execCmds = append(execCmds, c.grammar())
			case modes.Configure:
				for _, m := range config.Modes {
					extra[m] = append(extra[m], c.grammar())
				}
			}
		}
	}
	s.conf = sync.OnceValues(func() (*config.Grammar, error) {
		return config.NewGrammar(config.Statements(), extra)
	})
	var err error
	if s.user, err = grammar.Compile(userCmds, nil); err != nil {
		return nil, fmt.Errorf("user exec grammar: %w", err)
	}
	if s.exec, err = grammar.Compile(execCmds, nil); err != nil {
		return nil, fmt.Errorf("exec grammar: %w", err)
	}
	s.Running = &config.Config{}
	if opts.Store != nil {
		text, err := opts.Store.ReadRunning()
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			cfg, err := config.Parse(text, "running-config")
			if err != nil {
				return nil, fmt.Errorf("stored running-config: %w", err)
			}
			s.Running = cfg
		}
	}
	s.Ed = config.NewEditor(nil, nil) // the grammar comes with Grammar()
	s.shareRunning()
	return s, nil
}

// shareRunning makes the running configuration the candidate, copied on
// the first change: a commit or an abort does not pay for a copy of a
// large configuration that may never be edited again.
func (s *Session) shareRunning() {
	s.Cand = s.Running
	s.Ed.Reset(s.Cand)
	s.Ed.CopyOnWrite = func() *config.Config {
		s.Cand = s.Running.Clone()
		return s.Cand
	}
}

// setCandidate makes cfg, which the session owns, the candidate.
func (s *Session) setCandidate(cfg *config.Config) {
	s.Cand = cfg
	s.Ed.Reset(cfg)
	s.Ed.CopyOnWrite = nil
}

// Grammar returns the grammar of the configuration modes: the statements
// and the shell's configuration-mode commands. It is compiled on first
// use, so that what never enters configuration mode (`mboxsh -c 'show
// running-config'`, the way to the first prompt) does not pay for it.
func (s *Session) Grammar() *config.Grammar {
	g, err := s.conf()
	if err != nil {
		// The declarations are static: this is a programming error, and
		// TestSessionGrammarCompiles catches it.
		panic(fmt.Sprintf("mboxsh: configuration grammar: %v", err))
	}
	s.Ed.G = g
	return g
}

func (c *Command) grammar() *grammar.Command {
	return &grammar.Command{Syntax: c.Syntax, Help: c.Help, Hidden: c.Hidden, Data: c}
}

// Prompt is the prompt for the session's current place.
func (s *Session) Prompt() string {
	block := ""
	if s.Level == modes.Configure && s.Ed.Mode == config.ModeInterface {
		block = s.Ed.BlockName()
	}
	return modes.Prompt(s.Running.Hostname, s.Level, s.Ed.Mode, block, s.Dirty)
}

// InConfig reports whether the session is in a configuration mode.
func (s *Session) InConfig() bool { return s.Level == modes.Configure }

// set returns the grammar of the current place.
func (s *Session) set() *grammar.Set {
	switch s.Level {
	case modes.User:
		return s.user
	case modes.Privileged:
		return s.exec
	}
	return s.Grammar().Set(s.Ed.Mode)
}

// ExecSet is the privileged exec grammar (for `do`).
func (s *Session) ExecSet() *grammar.Set { return s.exec }

// Messages: where informational output goes. Interactive sessions show it
// inline; batch sessions keep stdout for what was asked for (show output)
// and send the rest to stderr.
func (s *Session) info() io.Writer {
	if s.Interactive {
		return s.Out
	}
	return s.Err
}

// Infof prints an informational message.
func (s *Session) Infof(format string, a ...any) {
	fmt.Fprintf(s.info(), format, a...)
}

// ResetCandidate discards the candidate and returns to the top level of
// configuration.
func (s *Session) ResetCandidate() {
	s.shareRunning()
	s.Dirty = false
}

// Context returns the context commands run in.
func (s *Session) Context() context.Context { return context.Background() }

// redactPSK hides pre-shared keys in a line (for history and logs): the
// token after `psk` or any abbreviation of it (`ps`), except in
// `authentication psk`, becomes <removed>.
func redactPSK(line string) string {
	toks, err := grammar.Tokenize(line)
	if err != nil {
		// An unterminated quote (toks are the words before it): cut
		// everything after the first psk keyword.
		for i, t := range toks {
			if isPSKKeyword(toks, i) {
				return line[:t.Col+len(t.Text)] + " <removed>"
			}
		}
		return line
	}
	for i := len(toks) - 2; i >= 0; i-- {
		if !isPSKKeyword(toks, i) {
			continue
		}
		end := len(line)
		if i+2 < len(toks) {
			end = toks[i+2].Col
		}
		rest := ""
		if end < len(line) {
			rest = " " + line[end:]
		}
		line = line[:toks[i+1].Col] + "<removed>" + rest
	}
	return line
}

func isPSKKeyword(toks []grammar.Token, i int) bool {
	w := strings.ToLower(toks[i].Text)
	if toks[i].Quoted || len(w) < 2 || !strings.HasPrefix("psk", w) {
		return false
	}
	if i > 0 {
		prev := strings.ToLower(toks[i-1].Text)
		if len(prev) >= 2 && strings.HasPrefix("authentication", prev) {
			return false // `authentication psk`: a method, not a secret
		}
	}
	return true
}

// RedactPSK hides pre-shared keys in a command line.
func RedactPSK(line string) string { return redactPSK(line) }
