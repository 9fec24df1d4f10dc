// Package commands declares mboxsh's shell commands — exec commands and the
// commands that work in every configuration mode — each once, with syntax,
// help and action. The configuration statements themselves are declared in
// package config.
package commands

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"mboxsh/config"
	"mboxsh/config/grammar"
	"mboxsh/shell"
	"mboxsh/shell/modes"
)

var (
	user = []modes.Level{modes.User, modes.Privileged}
	priv = []modes.Level{modes.Privileged}
	conf = []modes.Level{modes.Configure}
)

// All returns every shell command.
func All() []*shell.Command {
	var cmds []*shell.Command
	cmds = append(cmds, sessionCommands()...)
	cmds = append(cmds, configCommands()...)
	cmds = append(cmds, showCommands()...)
	cmds = append(cmds, systemCommands()...)
	return cmds
}

func sessionCommands() []*shell.Command {
	return []*shell.Command{
		{
			Syntax: "enable", Levels: []modes.Level{modes.User},
			Help: map[string]string{"enable": "Turn on privileged commands"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.Level = modes.Privileged
				return nil
			},
		},
		{
			Syntax: "disable", Levels: priv,
			Help: map[string]string{"disable": "Turn off privileged commands"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.Level = modes.User
				return nil
			},
		},
		{
			Syntax: "exit", Levels: user,
			Help: map[string]string{"exit": "Exit from the EXEC"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.Exit = true
				return nil
			},
		},
		{
			Syntax: "quit", Levels: user, Hidden: true,
			Help: map[string]string{"quit": "Exit from the EXEC"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.Exit = true
				return nil
			},
		},
		{
			Syntax: "logout", Levels: user,
			Help: map[string]string{"logout": "Exit from the EXEC"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.Exit = true
				return nil
			},
		},
		{
			Syntax: "terminal length <lines:0-512>", Levels: user,
			Help: map[string]string{"terminal": "Set terminal line parameters", "length": "Set number of lines on a screen",
				"lines": "Number of lines on screen (0 for no pausing)"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.TermLength = a.Int("lines")
				return nil
			},
		},
		{
			Syntax: "configure [terminal]", Levels: priv,
			Help: map[string]string{"configure": "Enter configuration mode", "terminal": "Configure from the terminal"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				if s.Interactive {
					out.WriteString("Enter configuration commands, one per line.  End with CNTL/Z.\n")
				}
				s.Level = modes.Configure
				s.Ed.Reset(s.Cand)
				return nil
			},
		},
		{
			Syntax: "configure replace <file:WORD>", Levels: priv,
			Help: map[string]string{"configure": "Enter configuration mode", "replace": "Replace the running configuration with a file and commit it",
				"file": "Path of the configuration file"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				if s.Dirty {
					return errors.New("% The candidate has uncommitted changes: commit or abort them first")
				}
				if err := s.Load(a.Str("file"), true); err != nil {
					s.ResetCandidate()
					return err
				}
				if err := s.Commit(shell.CommitOptions{Comment: "configure replace " + a.Str("file")}, out); err != nil {
					s.ResetCandidate()
					return err
				}
				return nil
			},
		},
	}
}

func configCommands() []*shell.Command {
	leave := func(s *shell.Session, toExec bool) error {
		if toExec || s.Ed.Mode == config.ModeConfig {
			if s.Dirty {
				if !s.Interactive {
					return errors.New("% Uncommitted changes: commit or abort them before leaving configuration mode")
				}
				switch ask(s, "Uncommitted changes found, commit them before exiting (yes/no/cancel)? [cancel]: ") {
				case "yes":
					if err := s.Commit(shell.CommitOptions{}, nil); err != nil {
						return err
					}
				case "no":
					s.ResetCandidate()
				default:
					return nil
				}
			}
			s.Level = modes.Privileged
			s.Ed.Reset(s.Cand)
			return nil
		}
		s.Ed.Exit()
		return nil
	}
	return []*shell.Command{
		{
			Syntax: "exit", Levels: conf,
			Help: map[string]string{"exit": "Exit from the current mode"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return leave(s, false)
			},
		},
		{
			Syntax: "end", Levels: conf,
			Help: map[string]string{"end": "Exit to privileged exec mode"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return leave(s, true)
			},
		},
		{
			Syntax: "do <cmd:LINE>", Levels: conf,
			Help: map[string]string{"do": "Run an exec command", "cmd": "Exec command"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return s.RunExec(a.Str("cmd"), out)
			},
		},
		{
			Syntax: "commit [check | confirm | {confirmed <minutes:1-60> | comment <ctext:TEXT>}]", Levels: conf,
			Help: map[string]string{
				"commit":    "Validate the candidate and apply it to the system",
				"check":     "Validate the candidate only",
				"confirm":   "Confirm an earlier commit confirmed",
				"confirmed": "Roll back automatically unless confirmed by another commit",
				"minutes":   "Minutes until the automatic rollback",
				"comment":   "Comment stored with the commit",
				"ctext":     "Comment text (quote it if it has blanks)",
			},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return s.Commit(shell.CommitOptions{Check: a.Has("check"), Comment: a.Str("ctext"), ConfirmMinutes: a.Int("minutes")}, out)
			},
		},
		{
			Syntax: "abort", Levels: conf,
			Help: map[string]string{"abort": "Discard the candidate's changes and exit to exec mode"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				s.ResetCandidate()
				s.Level = modes.Privileged
				return nil
			},
		},
		{
			Syntax: "rollback <n:0-49>", Levels: conf,
			Help: map[string]string{"rollback": "Load an archived configuration into the candidate",
				"n": "0 = the running configuration, 1 = the one before, …"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return s.Rollback(a.Int("n"))
			},
		},
		{
			Syntax: "load <how:merge|replace> <file:WORD>", Levels: conf,
			Help: map[string]string{"load": "Load a configuration file into the candidate", "how": "How to combine it",
				"how.merge": "Add the file's statements to the candidate", "how.replace": "Replace the whole candidate",
				"file": "Path of the configuration file"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				return s.Load(a.Str("file"), a.Str("how") == "replace")
			},
		},
	}
}

func ask(s *shell.Session, q string) string {
	if s.Ask == nil {
		return "cancel"
	}
	ans := strings.ToLower(strings.TrimSpace(s.Ask(q)))
	for _, c := range []string{"yes", "no", "cancel"} {
		if ans != "" && strings.HasPrefix(c, ans) {
			return c
		}
	}
	return "cancel"
}

func systemCommands() []*shell.Command {
	writeMem := func(s *shell.Session, a grammar.Args, out *shell.Output) error {
		if s.Store == nil {
			return errors.New("% No state directory")
		}
		if err := s.Store.WriteStartup([]byte(config.Render(s.Running))); err != nil {
			return err
		}
		fmt.Fprintln(out, "[OK]")
		return nil
	}
	return []*shell.Command{
		{
			Syntax: "write [memory]", Levels: priv,
			Help: map[string]string{"write": "Write running configuration to memory", "memory": "Save it as the startup configuration"},
			Run:  writeMem,
		},
		{
			Syntax: "write terminal", Levels: priv,
			Help: map[string]string{"write": "Write running configuration to memory", "terminal": "Print the running configuration"},
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				out.WriteString(config.Render(s.Running))
				out.Data = s.Running
				return nil
			},
		},
		{
			Syntax: "copy running-config startup-config", Levels: priv,
			Help: map[string]string{"copy": "Copy from one file to another", "running-config": "The running configuration",
				"startup-config": "The startup configuration"},
			Run: writeMem,
		},
	}
}

func showCommands() []*shell.Command {
	show := map[string]string{"show": "Show running system information"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"show": show["show"]}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []*shell.Command{
		{
			Syntax: "show running-config", Levels: priv,
			Help: with("running-config", "Current operating configuration"),
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				out.WriteString(config.Render(s.Running))
				out.Data = s.Running
				return nil
			},
		},
		{
			Syntax: "show startup-config", Levels: priv,
			Help: with("startup-config", "Contents of the startup configuration"),
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				if s.Store == nil {
					return errors.New("% No state directory")
				}
				text, err := s.Store.ReadStartup()
				if errors.Is(err, os.ErrNotExist) {
					return errors.New("% No startup configuration (use `write memory`)")
				}
				if err != nil {
					return err
				}
				out.Write(text)
				if cfg, err := config.Parse(text, "startup-config"); err == nil {
					out.Data = cfg
				}
				return nil
			},
		},
		{
			Syntax: "show configuration [diff]", Levels: priv,
			Help: with("configuration", "The candidate configuration (uncommitted changes included)",
				"diff", "Differences between the running and the candidate configuration"),
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				if a.Has("diff") {
					out.WriteString(config.CompareText(s.Running, s.Cand))
					out.Data = config.Diff(s.Running, s.Cand)
					return nil
				}
				out.WriteString(config.Render(s.Cand))
				out.Data = s.Cand
				return nil
			},
		},
		{
			Syntax: "show commit history", Levels: priv,
			Help: with("commit", "Commit information", "history", "Archived commits (rollback numbers)"),
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				if s.Store == nil {
					return errors.New("% No state directory")
				}
				hist, err := s.Store.History()
				if err != nil {
					return err
				}
				type row struct {
					Rollback int    `json:"rollback"`
					Commit   uint64 `json:"commit"`
					Time     string `json:"time"`
					User     string `json:"user"`
					Comment  string `json:"comment"`
				}
				var rows []row
				for i, e := range hist {
					rows = append(rows, row{i, e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.User, e.Comment})
				}
				t := table{header: []string{"Rollback", "Commit", "Date/Time", "User", "Comment"}}
				for _, r := range rows {
					t.add(fmt.Sprint(r.Rollback), fmt.Sprint(r.Commit), r.Time, dash(r.User), r.Comment)
				}
				t.write(out)
				out.Data = rows
				return nil
			},
		},
		{
			Syntax: "show version", Levels: user,
			Help: with("version", "Software version"),
			Run: func(s *shell.Session, a grammar.Args, out *shell.Output) error {
				v := "devel"
				goV := ""
				if bi, ok := debug.ReadBuildInfo(); ok {
					goV = bi.GoVersion
					if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
						v = bi.Main.Version
					}
				}
				fmt.Fprintf(out, "mboxsh, a configuration shell for IPsec-over-GRE appliances\nVersion %s, built with %s\n", v, goV)
				out.Data = map[string]string{"version": v, "go": goV}
				return nil
			},
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table prints columns that widen to fit their longest cell.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for i, h := range t.header {
		width[i] = len(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		return strings.TrimRight(b.String(), " ")
	}
	head := line(t.header)
	if o, ok := w.(*shell.Output); ok && o.Styled {
		// A bold header on a terminal: a fixed SGR attribute, no queries.
		head = "\x1b[1m" + head + "\x1b[0m"
	}
	fmt.Fprintln(w, head)
	for _, r := range t.rows {
		fmt.Fprintln(w, line(r))
	}
}
