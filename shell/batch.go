package shell

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"mboxsh/shell/modes"
)

// Line is one input line of a batch, with its origin for messages.
type Line struct {
	Text string
	File string // "-" for standard input, "-c" for command arguments
	No   int
}

// RunBatch runs lines exactly as typed, from privileged exec. The first
// error is reported as `FILE:LINE: % message` (with the line and a caret
// when there is a column) on the error stream and stops the batch, unless
// keepGoing. Uncommitted changes left at the end are discarded and count
// as an error. It returns the number of errors.
func (s *Session) RunBatch(lines []Line, keepGoing bool) int {
	i := 0
	return s.runBatch(func() (Line, bool, error) {
		if i == len(lines) {
			return Line{}, false, nil
		}
		i++
		return lines[i-1], true, nil
	}, keepGoing)
}

// RunBatchReader is RunBatch for lines read from r as they arrive (a pipe
// from a program that waits for each answer works).
func (s *Session) RunBatchReader(r io.Reader, file string, keepGoing bool) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	return s.runBatch(func() (Line, bool, error) {
		if !sc.Scan() {
			return Line{}, false, sc.Err()
		}
		n++
		return Line{Text: strings.TrimSuffix(sc.Text(), "\r"), File: file, No: n}, true, nil
	}, keepGoing)
}

func (s *Session) runBatch(next func() (Line, bool, error), keepGoing bool) int {
	errs := 0
	for !s.Exit {
		l, ok, err := next()
		if err != nil {
			fmt.Fprintf(s.Err, "%% %s: %v\n", l.File, err)
			errs++
			break
		}
		if !ok {
			break
		}
		s.Pos.File, s.Pos.Line = l.File, l.No
		err = s.Exec(l.Text, s.Out)
		if err == nil {
			continue
		}
		errs++
		s.reportBatchError(l, err)
		if !keepGoing {
			break
		}
	}
	if s.Dirty {
		if errs == 0 {
			fmt.Fprintf(s.Err, "%% Uncommitted changes discarded at end of input (use `commit`)\n")
			errs++
		} else {
			fmt.Fprintf(s.Err, "%% Uncommitted changes discarded\n")
		}
		s.ResetCandidate()
	}
	if s.Level == modes.Configure {
		s.Level = modes.Privileged
	}
	return errs
}

func (s *Session) reportBatchError(l Line, err error) {
	le := lineErr(err, nil, 0)
	msg := strings.Split(le.Msg, "\n")
	fmt.Fprintf(s.Err, "%s:%d: %s\n", l.File, l.No, msg[0])
	for _, m := range msg[1:] {
		fmt.Fprintf(s.Err, "%s:%d: %s\n", l.File, l.No, m)
	}
	if le.Col >= 0 {
		fmt.Fprintf(s.Err, "  %s\n  %s^\n", strings.TrimRight(l.Text, "\r\n"), strings.Repeat(" ", le.Col))
	}
}
