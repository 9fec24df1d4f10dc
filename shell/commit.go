package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"mboxsh/config"
	"mboxsh/config/grammar"
	"mboxsh/persist"
	"mboxsh/runtime"
)

// CommitOptions are the variants of `commit`.
type CommitOptions struct {
	Check          bool   // validate only
	Comment        string // stored in the archive
	ConfirmMinutes int    // commit confirmed N: roll back unless confirmed
}

// ErrOffline is returned by operations that need the live system.
var ErrOffline = errors.New("% Not available in offline mode (no kernel is touched)")

// Validate checks the candidate and prints the findings; it returns an
// error when there are errors.
func (s *Session) validate(out *Output) error {
	diags := config.Validate(s.Cand, nil)
	if c, ok := s.Backend.(Checker); ok {
		diags = append(diags, dedupeDiags(diags, c.Check(s.Context(), s.Cand))...)
	}
	errs := 0
	for _, d := range diags {
		if d.Severity == config.SevError {
			errs++
		}
		fmt.Fprintf(s.info(), "%% %s\n", d)
	}
	if errs > 0 {
		return &LineError{Msg: fmt.Sprintf("%% Commit aborted: %d error(s) in the candidate configuration", errs), Col: -1}
	}
	return nil
}

// Checker is a Backend that can also validate a configuration against the
// live system (installed algorithms, lock-out risks).
type Checker interface {
	Check(ctx context.Context, cfg *config.Config) []config.Diagnostic
}

// dedupeDiags drops findings of extra that have the same message as one
// in have (the system check repeats some of the model's own).
func dedupeDiags(have, extra []config.Diagnostic) []config.Diagnostic {
	var out []config.Diagnostic
	for _, e := range extra {
		dup := false
		for _, h := range have {
			if strings.Contains(h.Msg, e.Msg) || strings.Contains(e.Msg, h.Msg) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}

// Commit validates the candidate, applies it to the system (all or
// nothing), then stores it as the running configuration and archives it.
func (s *Session) Commit(opt CommitOptions, out *Output) error {
	start := time.Now()
	// A clean session's candidate is the running configuration, which was
	// validated when it was committed: a no-op commit (re-asserting the
	// system against drift) skips validation and rendering.
	clean := !s.Dirty && !opt.Check
	if !clean {
		if err := s.validate(out); err != nil {
			return err
		}
	}
	if opt.Check {
		s.Infof("Configuration check succeeds.\n")
		return nil
	}
	ctx := s.Context()
	confirmed := false
	if s.Store != nil && opt.ConfirmMinutes == 0 {
		p, err := s.Store.TakePending()
		if err != nil {
			return err
		}
		if p != nil {
			confirmed = true
			s.Infof("Commit confirmed: the automatic rollback is cancelled.\n")
		}
	}
	prevText := s.runningRendered()
	// The text to store and the list of changes to print: rendered while
	// the drivers apply the candidate (both only read it).
	type rendered struct {
		text    string
		changes []config.Change
	}
	render := func() rendered {
		text := prevText
		if !clean {
			text = config.Render(s.Cand)
		}
		return rendered{text, config.DiffText(prevText, text)}
	}
	var drivers []runtime.Driver
	if s.Backend != nil {
		var err error
		if drivers, err = s.Backend.Drivers(ctx); err != nil {
			return fmt.Errorf("%% Commit failed: %v", err)
		}
	}
	var r rendered
	var res *runtime.Result
	if len(drivers) == 0 {
		r = render()
		if len(r.changes) == 0 && opt.ConfirmMinutes == 0 {
			if !confirmed {
				s.Infof("%% No configuration changes to commit.\n")
			}
			s.Dirty = false
			return nil
		}
	} else {
		done := make(chan rendered, 1)
		go func() { done <- render() }()
		var err error
		res, err = runtime.Apply(ctx, drivers, s.Running, s.Cand, runtime.Options{})
		r = <-done
		if err != nil {
			var se *runtime.StepError
			if errors.As(err, &se) {
				msg := fmt.Sprintf("%% Commit failed at %s: %v", se.Step.Stmt, se.Err)
				if se.UndoErr != nil {
					msg += fmt.Sprintf("\n%% Rollback of the partial commit failed too: %v", se.UndoErr)
				} else {
					msg += "\n% The system was left as it was before the commit; the candidate is kept."
				}
				return &LineError{Msg: msg, Col: -1}
			}
			return &LineError{Msg: "% Commit failed: " + err.Error(), Col: -1}
		}
	}
	text, changes := r.text, r.changes
	// A commit that changed nothing (it may still have repaired drift)
	// leaves the state directory alone.
	if s.Store != nil && (len(changes) > 0 || opt.ConfirmMinutes > 0) {
		if opt.ConfirmMinutes > 0 {
			p := persist.Pending{
				Deadline: time.Now().Add(time.Duration(opt.ConfirmMinutes) * s.confirmUnit()),
				Previous: []byte(prevText), User: s.User, Comment: opt.Comment,
			}
			if err := s.Store.SetPending(p); err != nil {
				return err
			}
		}
		// running-config and the archive entry, written side by side.
		if _, err := s.Store.Commit([]byte(text), persist.Meta{User: s.User, Comment: opt.Comment}); err != nil {
			if errors.Is(err, persist.ErrRunningNotSaved) {
				return fmt.Errorf("%% Commit applied but the running-config could not be saved: %v", err)
			}
			s.Infof("%% Warning: commit archive: %v\n", err)
		}
	}
	if len(changes) > 0 {
		s.Running = s.Cand
		s.runningOf, s.runningText = s.Running, text
	}
	s.shareRunning()
	s.Dirty = false
	steps := 0
	if res != nil {
		steps = len(res.Steps)
	}
	// One write for the whole list: a commit of thousands of changes
	// would otherwise make as many system calls to print it.
	var list strings.Builder
	for _, c := range changes {
		list.WriteString("  ")
		list.WriteString(map[config.Op]string{config.Added: "+", config.Removed: "-", config.Changed: "~"}[c.Op])
		list.WriteByte(' ')
		list.WriteString(c.Key)
		list.WriteByte('\n')
	}
	io.WriteString(s.info(), list.String())
	where := "the system"
	if s.Backend == nil {
		where = "the state directory (offline)"
	}
	s.Infof("Commit complete: %d change(s), %d system step(s) applied to %s in %s.\n",
		len(changes), steps, where, time.Since(start).Round(time.Microsecond))
	if opt.ConfirmMinutes > 0 {
		if s.StartWatchdog != nil {
			if err := s.StartWatchdog(); err != nil {
				s.Infof("%% Warning: could not start the rollback watchdog: %v\n", err)
			}
		}
		in := fmt.Sprintf("%d minute(s)", opt.ConfirmMinutes)
		if s.confirmUnit() != time.Minute {
			in = (time.Duration(opt.ConfirmMinutes) * s.confirmUnit()).String()
		}
		s.Infof("Commit confirmed: the previous configuration returns in %s unless you `commit` again.\n", in)
	}
	return nil
}

func (s *Session) confirmUnit() time.Duration {
	if s.ConfirmUnit > 0 {
		return s.ConfirmUnit
	}
	return time.Minute
}

// Rollback loads archived configuration n into the candidate.
func (s *Session) Rollback(n int) error {
	if s.Store == nil {
		return errors.New("% No state directory")
	}
	text, e, err := s.Store.Load(n)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%% %v", err)
		}
		return err
	}
	cfg, err := config.Parse(text, fmt.Sprintf("rollback %d", n))
	if err != nil {
		return fmt.Errorf("%% Archived configuration %d is unreadable: %v", n, err)
	}
	s.setCandidate(cfg)
	s.Dirty = config.Render(cfg) != config.Render(s.Running)
	s.Infof("Loaded rollback %d (commit of %s by %s%s) into the candidate.\n", n,
		e.Time.Local().Format("2006-01-02 15:04:05"), orDash(e.User), commentSuffix(e.Comment))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func commentSuffix(c string) string {
	if c == "" {
		return ""
	}
	return ": " + c
}

// Load reads a configuration file into the candidate: replace swaps the
// whole candidate, merge applies the file's statements on top of it.
func (s *Session) Load(path string, replace bool) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%% %v", err)
	}
	if replace {
		cfg, err := config.Parse(src, path)
		if err != nil {
			return &LineError{Msg: "% " + err.Error(), Col: -1}
		}
		s.setCandidate(cfg)
	} else {
		// Merge: apply statements to a copy, so an error changes nothing.
		merged := s.Cand.Clone()
		ed := config.NewEditor(config.DefaultGrammar(), merged)
		if err := mergeInto(ed, src, path); err != nil {
			return err
		}
		s.setCandidate(merged)
	}
	s.Dirty = config.Render(s.Cand) != config.Render(s.Running)
	return nil
}

func mergeInto(ed *config.Editor, src []byte, name string) error {
	// Parse validates the syntax with positions; then apply line by line.
	if _, err := config.Parse(src, name); err != nil {
		return &LineError{Msg: "% " + err.Error(), Col: -1}
	}
	for _, line := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '!' {
			ed.Exit()
			continue
		}
		if err := applyLine(ed, line); err != nil {
			return err
		}
	}
	return nil
}

func applyLine(ed *config.Editor, line string) error {
	toks, err := grammar.Tokenize(line)
	if err != nil {
		return err
	}
	_, err = ed.Apply(toks)
	return err
}
