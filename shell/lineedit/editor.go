package lineedit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/term"
)

// Errors returned by ReadLine.
var (
	// ErrInterrupt: Ctrl-C was pressed. The line is discarded; "^C" and a
	// newline have been written, so the caller just prints its next prompt.
	ErrInterrupt = errors.New("lineedit: interrupt")
	// ErrCtrlZ: Ctrl-Z was pressed. "^Z" and a newline have been written.
	// ReadLine returns the typed line along with ErrCtrlZ: as on IOS the
	// shell runs that line (if not blank) and then goes to exec mode (`end`).
	ErrCtrlZ = errors.New("lineedit: ctrl-z")
)

const (
	defaultWidth  = 80
	defaultHeight = 24
)

// Options configures an Editor. All fields are optional.
type Options struct {
	// Complete is called on Tab with the text left of the cursor. It returns
	// the replacement for that text (normally extended to the longest unique
	// completion) and the candidates. If the text changed, the line is
	// updated. If it did not and there are two or more candidates, they are
	// listed in columns below the line and the prompt and line are redrawn.
	// Nil: Tab does nothing.
	Complete func(line string) (newLine string, candidates []string)

	// Help is called on '?' with the text left of the cursor. Its result is
	// printed below the line ("?" is echoed first when the cursor is at the
	// end of the line), then the prompt and the unchanged line are redrawn
	// with the cursor where it was. '?' is not inserted. A '?' typed inside
	// an open double-quoted string, or after Ctrl-V, is inserted literally.
	// Nil: '?' is an ordinary character.
	Help func(line string) string

	// History is the command history (Up/Down, Ctrl-P/Ctrl-N). Non-blank
	// lines returned by ReadLine are added to it. Nil: an in-memory history
	// of DefaultHistorySize entries.
	History *History

	// Term is the terminal type; "" means $TERM. "dumb" makes the editor
	// write no escape sequences at all.
	Term string

	// Width overrides the terminal width (columns). 0: ask the terminal
	// (TIOCGWINSZ) at each ReadLine, falling back to 80.
	Width int
}

// Editor reads lines from a terminal. It is not safe for concurrent use.
type Editor struct {
	in    *os.File
	out   io.Writer
	opts  Options
	isTTY bool
	fd    int
	keys  keyReader
	wbuf  bytes.Buffer
	r     renderer
	kill  []rune // last text deleted by Ctrl-K/U/W, for Ctrl-Y
	plain bool   // the current read is an Ask: no history/completion/help
}

// New returns an Editor reading keys from in and writing to out (normally
// the same terminal). in need not be a terminal (tests drive it through a
// pipe); then the terminal mode is never changed.
func New(in *os.File, out io.Writer, opts Options) (*Editor, error) {
	if in == nil || out == nil {
		return nil, errors.New("lineedit: nil input or output")
	}
	if opts.Term == "" {
		opts.Term = os.Getenv("TERM")
	}
	if opts.History == nil {
		h, err := NewHistory("", 0)
		if err != nil {
			return nil, err
		}
		opts.History = h
	}
	e := &Editor{in: in, out: out, opts: opts, fd: int(in.Fd())}
	e.isTTY = term.IsTerminal(e.fd)
	e.keys.r = bufio.NewReaderSize(in, 4096)
	e.r = renderer{out: &e.wbuf, dumb: opts.Term == "dumb"}
	return e, nil
}

// History returns the editor's history.
func (e *Editor) History() *History { return e.opts.History }

// Size returns the terminal size (columns, rows), or 80x24 when unknown.
// Options.Width overrides the width.
func (e *Editor) Size() (width, height int) {
	width, height = defaultWidth, defaultHeight
	if e.isTTY {
		if w, h, err := term.GetSize(e.fd); err == nil && w > 0 && h > 0 {
			width, height = w, h
		}
	} else if f, ok := e.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			width, height = w, h
		}
	}
	if e.opts.Width > 0 {
		width = e.opts.Width
	}
	return width, height
}

// Buffered reports how many input bytes have been read from the terminal
// but not yet consumed (typed ahead or pasted).
func (e *Editor) Buffered() int { return e.keys.r.Buffered() }

// makeRaw puts the terminal in raw mode if it is one; the returned function
// restores it.
func (e *Editor) makeRaw() (func(), error) {
	if !e.isTTY {
		return func() {}, nil
	}
	old, err := term.MakeRaw(e.fd)
	if err != nil {
		return nil, fmt.Errorf("lineedit: raw mode: %w", err)
	}
	return func() { _ = term.Restore(e.fd, old) }, nil
}

func (e *Editor) flush() error {
	if e.wbuf.Len() == 0 {
		return nil
	}
	_, err := e.out.Write(e.wbuf.Bytes())
	e.wbuf.Reset()
	if err != nil {
		return fmt.Errorf("lineedit: write: %w", err)
	}
	return nil
}

// ReadLine shows prompt and returns the edited line, without its line
// ending.
//
//   - Enter (CR, LF or CR LF): returns the line, nil.
//   - Ctrl-D on an empty line: returns "", io.EOF, writing nothing (the
//     cursor stays after the prompt, as at end of input; the caller prints
//     what it wants, e.g. a newline).
//   - End of input: returns the pending line if not empty (nil error),
//     else "", io.EOF.
//   - Ctrl-C: "^C" + newline, returns "", ErrInterrupt.
//   - Ctrl-Z: "^Z" + newline, returns the line and ErrCtrlZ.
//   - A failed write (e.g. the SSH channel is gone) or read: that error.
//
// Non-blank lines (also with ErrCtrlZ) are added to the history. Output is
// written in raw mode, so line breaks are CR LF.
func (e *Editor) ReadLine(prompt string) (string, error) {
	return e.read(prompt, readMode{})
}

// Ask reads an answer to a question (a confirmation, a value): the same
// editing keys as ReadLine, but no history (neither recall nor recording),
// no completion, no help ('?' and Tab are ordinary input; Tab is ignored).
func (e *Editor) Ask(prompt string) (string, error) {
	return e.read(prompt, readMode{plain: true})
}

// AskSecret is Ask without echo: nothing of the answer is written to the
// terminal (for keys and passwords).
func (e *Editor) AskSecret(prompt string) (string, error) {
	return e.read(prompt, readMode{plain: true, hidden: true})
}

type readMode struct {
	plain  bool // no history, completion or help
	hidden bool // no echo
}

func (e *Editor) read(prompt string, mode readMode) (string, error) {
	restore, err := e.makeRaw()
	if err != nil {
		return "", err
	}
	defer restore()

	width, _ := e.Size()
	s := newLineState(prompt, width)
	s.hidden = mode.hidden
	e.plain = mode.plain
	h := e.opts.History
	var hist []string
	if !mode.plain {
		hist = h.Entries()
	}
	hidx := len(hist)
	var pending []rune // the new line while browsing history

	e.r.redraw(s)
	if err := e.flush(); err != nil {
		return "", err
	}
	for {
		k, err := e.keys.readKey()
		if err != nil {
			if errors.Is(err, io.EOF) && len(s.buf) > 0 {
				e.wbuf.WriteString("\r\n")
				line := s.String()
				if !mode.plain && strings.TrimSpace(line) != "" {
					_ = h.Add(line)
				}
				return line, e.flush()
			}
			if ferr := e.flush(); ferr != nil {
				return "", ferr
			}
			if errors.Is(err, io.EOF) {
				return "", io.EOF
			}
			return "", fmt.Errorf("lineedit: read: %w", err)
		}

		done, line, rerr := e.handle(s, k, &hist, &hidx, &pending)
		if done {
			if !mode.plain && strings.TrimSpace(line) != "" {
				_ = h.Add(line)
			}
			if err := e.flush(); err != nil {
				return "", err
			}
			return line, rerr
		}
		// Coalesce output while more input is already buffered (paste).
		if e.keys.r.Buffered() == 0 {
			if err := e.flush(); err != nil {
				return "", err
			}
		}
	}
}

// handle applies one key. done reports that ReadLine must return line, err.
func (e *Editor) handle(s *lineState, k key, hist *[]string, hidx *int, pending *[]rune) (done bool, line string, err error) {
	r := &e.r
	switch k.code {
	case keyIgnore:
		return
	case keyUp:
		e.historyMove(s, hist, hidx, pending, -1)
		return
	case keyDown:
		e.historyMove(s, hist, hidx, pending, +1)
		return
	case keyLeft:
		if s.pos > 0 {
			s.pos--
		}
	case keyRight:
		if s.pos < len(s.buf) {
			s.pos++
		}
	case keyHome:
		s.pos = 0
	case keyEnd:
		s.pos = len(s.buf)
	case keyDelete:
		if s.pos < len(s.buf) {
			s.buf = append(s.buf[:s.pos], s.buf[s.pos+1:]...)
		}
	case keyWordLeft:
		s.pos = wordLeft(s.buf, s.pos)
	case keyWordRight:
		s.pos = wordRight(s.buf, s.pos)
	case keyDeleteWordRight:
		e.cut(s, s.pos, wordRight(s.buf, s.pos))
	case keyDeleteWordLeft:
		e.cut(s, wordLeft(s.buf, s.pos), s.pos)
	case keyRune:
		return e.handleRune(s, k.r, hist, hidx, pending)
	}
	r.refresh(s)
	return
}

func (e *Editor) handleRune(s *lineState, c rune, hist *[]string, hidx *int, pending *[]rune) (done bool, line string, err error) {
	r := &e.r
	switch c {
	case cr, lf:
		r.out.WriteString("\r\n")
		return true, s.String(), nil
	case ctrlC:
		r.toEnd(s)
		r.out.WriteString("^C\r\n")
		return true, "", ErrInterrupt
	case ctrlZ:
		r.toEnd(s)
		r.out.WriteString("^Z\r\n")
		return true, s.String(), ErrCtrlZ
	case ctrlD:
		if len(s.buf) == 0 {
			return true, "", io.EOF
		}
		if s.pos < len(s.buf) {
			s.buf = append(s.buf[:s.pos], s.buf[s.pos+1:]...)
		}
	case ctrlA:
		s.pos = 0
	case ctrlE:
		s.pos = len(s.buf)
	case ctrlB:
		if s.pos > 0 {
			s.pos--
		}
	case ctrlF:
		if s.pos < len(s.buf) {
			s.pos++
		}
	case ctrlH, del:
		if s.pos > 0 {
			s.buf = append(s.buf[:s.pos-1], s.buf[s.pos:]...)
			s.pos--
		}
	case ctrlK:
		e.cut(s, s.pos, len(s.buf))
	case ctrlU, ctrlX:
		e.cut(s, 0, s.pos)
	case ctrlW:
		e.cut(s, wordLeft(s.buf, s.pos), s.pos)
	case ctrlY:
		e.insert(s, e.kill...)
	case ctrlT:
		// Transpose the two characters before the cursor (at the end of the
		// line) or around it.
		if len(s.buf) >= 2 && s.pos > 0 {
			p := s.pos
			if p == len(s.buf) {
				p--
			}
			s.buf[p-1], s.buf[p] = s.buf[p], s.buf[p-1]
			s.pos = p + 1
		}
	case ctrlP:
		e.historyMove(s, hist, hidx, pending, -1)
		return
	case ctrlN:
		e.historyMove(s, hist, hidx, pending, +1)
		return
	case ctrlL:
		if r.dumb {
			r.toEnd(s)
			r.out.WriteString("\r\n")
		} else {
			r.out.WriteString("\x1b[H\x1b[2J")
		}
		e.resize(s)
		r.redraw(s)
		return
	case ctrlR:
		r.toEnd(s)
		r.out.WriteString("\r\n")
		e.resize(s)
		r.redraw(s)
		return
	case ctrlV:
		k, kerr := e.keys.readKey()
		if kerr != nil {
			if errors.Is(kerr, io.EOF) {
				return true, "", io.EOF
			}
			return true, "", fmt.Errorf("lineedit: read: %w", kerr)
		}
		if k.code == keyRune && isPrintable(k.r) {
			e.insert(s, k.r)
		}
	case tab:
		e.complete(s)
		return
	case '?':
		if e.opts.Help != nil && !e.plain && !inQuote(s.buf[:s.pos]) {
			e.help(s)
			return
		}
		e.insert(s, c)
	default:
		if !isPrintable(c) {
			return
		}
		e.insert(s, c)
	}
	r.refresh(s)
	return
}

func isPrintable(r rune) bool {
	return r == ' ' || (r >= 0x20 && unicode.IsPrint(r)) || unicode.Is(unicode.Mn, r)
}

// insert inserts runes at the cursor (the caller refreshes).
func (e *Editor) insert(s *lineState, rs ...rune) {
	s.buf = slices.Insert(s.buf, s.pos, rs...)
	s.pos += len(rs)
}

// cut removes buf[from:to] into the kill buffer (the caller refreshes).
func (e *Editor) cut(s *lineState, from, to int) {
	if from >= to {
		return
	}
	e.kill = append([]rune(nil), s.buf[from:to]...)
	s.buf = append(s.buf[:from], s.buf[to:]...)
	s.pos = from
}

// resize re-reads the terminal width (Ctrl-L, redraws after output).
func (e *Editor) resize(s *lineState) {
	w, _ := e.Size()
	s.setWidth(w)
}

func (e *Editor) historyMove(s *lineState, hist *[]string, hidx *int, pending *[]rune, dir int) {
	n := *hidx + dir
	if n < 0 || n > len(*hist) {
		return
	}
	if *hidx == len(*hist) {
		*pending = append([]rune(nil), s.buf...)
	}
	*hidx = n
	if n == len(*hist) {
		s.buf = append([]rune(nil), (*pending)...)
	} else {
		s.buf = []rune((*hist)[n])
	}
	s.pos = len(s.buf)
	e.r.refresh(s)
}

func (e *Editor) help(s *lineState) {
	r := &e.r
	text := e.opts.Help(string(s.buf[:s.pos]))
	atEnd := s.pos == len(s.buf)
	r.toEnd(s)
	if atEnd {
		r.out.WriteString("?")
	}
	r.out.WriteString("\r\n")
	if text != "" {
		r.out.WriteString(crlf(text))
		if !strings.HasSuffix(text, "\n") {
			r.out.WriteString("\r\n")
		}
	}
	e.resize(s)
	r.redraw(s)
}

func (e *Editor) complete(s *lineState) {
	if e.opts.Complete == nil || e.plain {
		return
	}
	r := &e.r
	head := string(s.buf[:s.pos])
	newHead, cands := e.opts.Complete(head)
	if newHead != head {
		tail := s.buf[s.pos:]
		nb := []rune(newHead)
		s.pos = len(nb)
		s.buf = append(nb, tail...)
		r.refresh(s)
		return
	}
	if len(cands) < 2 {
		return
	}
	r.toEnd(s)
	r.out.WriteString("\r\n")
	width, _ := e.Size()
	r.out.WriteString(columns(cands, width))
	s.setWidth(width)
	r.redraw(s)
}

// columns lays candidates out in columns (row-major, two spaces apart),
// each row ending in CR LF.
func columns(cands []string, width int) string {
	maxw := 0
	for _, c := range cands {
		maxw = max(maxw, stringWidth(c))
	}
	colw := maxw + 2
	per := max(1, (width-1)/colw)
	var b strings.Builder
	for i, c := range cands {
		b.WriteString(c)
		if (i+1)%per == 0 || i == len(cands)-1 {
			b.WriteString("\r\n")
		} else {
			b.WriteString(strings.Repeat(" ", colw-stringWidth(c)))
		}
	}
	return b.String()
}

// inQuote reports whether the text ends inside an open "..." string (the
// shell's tokenizer groups with double quotes and has no escapes).
func inQuote(rs []rune) bool {
	n := 0
	for _, r := range rs {
		if r == '"' {
			n++
		}
	}
	return n%2 == 1
}

// wordLeft returns the start of the whitespace-delimited word before pos.
func wordLeft(buf []rune, pos int) int {
	for pos > 0 && unicode.IsSpace(buf[pos-1]) {
		pos--
	}
	for pos > 0 && !unicode.IsSpace(buf[pos-1]) {
		pos--
	}
	return pos
}

// wordRight returns the end of the whitespace-delimited word at or after pos.
func wordRight(buf []rune, pos int) int {
	for pos < len(buf) && unicode.IsSpace(buf[pos]) {
		pos++
	}
	for pos < len(buf) && !unicode.IsSpace(buf[pos]) {
		pos++
	}
	return pos
}
