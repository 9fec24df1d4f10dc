package shell

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"mboxsh/shell/lineedit"
	"mboxsh/shell/modes"
)

// RunInteractive runs the session on a terminal until the user exits.
func (s *Session) RunInteractive(in *os.File, history *lineedit.History) error {
	ed, err := lineedit.New(in, s.Out, lineedit.Options{
		Complete: s.Complete,
		Help: func(line string) string {
			text, err := s.Help(line)
			if err != nil {
				return s.caretText(len(s.Prompt()), err)
			}
			return text
		},
		History: history,
	})
	if err != nil {
		return err
	}
	if history != nil {
		history.SetFilter(func(line string) (string, bool) { return redactPSK(line), true })
	}
	// While a command runs the terminal is in its normal mode, where
	// Ctrl-C, Ctrl-\ and Ctrl-Z are signals. They must neither kill the
	// shell (a commit would be cut in half, a login session would end) nor
	// stop it (a login shell has no parent to resume it). At the prompt
	// the editor reads them as keys. Caught rather than ignored, so that
	// programs the shell starts get the default behaviour back.
	sigs := make(chan os.Signal, 1) // never read: Notify drops what does not fit
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	defer signal.Stop(sigs)
	s.Ask = func(q string) string {
		ans, err := ed.Ask(q)
		if err != nil {
			return ""
		}
		return ans
	}
	for !s.Exit {
		prompt := s.Prompt()
		line, err := ed.ReadLine(prompt)
		switch {
		case errors.Is(err, lineedit.ErrInterrupt):
			continue
		case errors.Is(err, lineedit.ErrCtrlZ):
			if strings.TrimSpace(line) != "" {
				s.execInteractive(ed, prompt, line)
			}
			if s.Level == modes.Configure {
				s.execInteractive(ed, prompt, "end")
			}
			continue
		case errors.Is(err, io.EOF):
			if s.Level == modes.Configure {
				fmt.Fprintln(s.Out)
				s.execInteractive(ed, prompt, "end")
				continue
			}
			fmt.Fprintln(s.Out)
			return nil
		case err != nil:
			return err
		}
		s.execInteractive(ed, prompt, line)
	}
	return nil
}

func (s *Session) execInteractive(ed *lineedit.Editor, prompt, line string) {
	var w io.Writer = s.Out
	var pager *lineedit.Pager
	if s.TermLength > 0 {
		pager = ed.NewPager(s.TermLength)
		w = pager
	}
	err := s.Exec(line, w)
	if err != nil && !errors.Is(err, lineedit.ErrPagerQuit) {
		fmt.Fprint(s.Out, s.caretText(len(prompt), err))
	}
}

// caretText formats an error IOS style: a caret under the offending
// character of the line just typed after a prompt of width indent.
func (s *Session) caretText(indent int, err error) string {
	le := lineErr(err, nil, 0)
	if le.Col >= 0 {
		return fmt.Sprintf("%s^\n%s\n", strings.Repeat(" ", indent+le.Col), le.Msg)
	}
	return le.Msg + "\n"
}
