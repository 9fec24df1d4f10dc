package lineedit

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrPagerQuit is returned by Pager.Write once the user has quit at the
// --More-- prompt; the rest of the output is discarded. Commands may stop
// producing output when they see it; the shell should not report it.
var ErrPagerQuit = errors.New("lineedit: output stopped at --More--")

const (
	morePrompt = " --More-- "
	// moreErase erases the prompt the way IOS does: back, blank, back.
	moreErase = "\b\b\b\b\b\b\b\b\b\b          \b\b\b\b\b\b\b\b\b\b"
)

// Pager writes command output one screen at a time, IOS style.
//
// With a terminal length of N (N > 0) it lets N-1 rows through, then shows
// " --More-- " on the last row and waits for a key: Space shows the next
// N-1 rows, Enter (CR or LF) one more row, any other key (q, Ctrl-C, ...)
// quits: the prompt is erased, the rest of the output is discarded and
// Write returns ErrPagerQuit. The prompt is shown only when more output
// actually follows, so output that fits ends without one. Rows are counted
// on the terminal: a line wider than the terminal counts as several rows.
// N = 0 disables paging.
//
// The Pager writes output bytes unchanged: use it while the terminal is in
// its normal (cooked) mode, i.e. between ReadLine calls. It switches to raw
// mode only while it waits for a key, reading through the Editor's input
// buffer, so typed-ahead keys are consumed in order.
type Pager struct {
	e     *Editor
	out   io.Writer
	page  int // rows per page; 0: no paging
	width int
	rows  int // rows completed on the current page
	col   int // column in the current row
	quit  bool
}

// NewPager returns a pager writing to the editor's output for a terminal of
// the given length (rows), 0 for no paging. Create one per command output.
func (e *Editor) NewPager(length int) *Pager {
	w, _ := e.Size()
	p := &Pager{e: e, out: e.out, width: w}
	if length > 0 {
		p.page = max(length-1, 1)
	}
	return p
}

// Quit reports whether the user quit at the --More-- prompt.
func (p *Pager) Quit() bool { return p.quit }

// Write implements io.Writer.
func (p *Pager) Write(b []byte) (int, error) {
	if p.quit {
		return 0, ErrPagerQuit
	}
	if p.page == 0 {
		return p.out.Write(b)
	}
	n, start := 0, 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			r = '?' // width 1
		}
		w := 0
		switch r {
		case '\n':
		case '\r':
			p.col = 0
		case '\b':
			p.col = max(p.col-1, 0)
		case '\t':
			w = 8 - p.col%8
		default:
			w = runeWidth(r)
		}
		if w > 0 && p.col+w > p.width { // wraps to a new row
			p.rows++
			p.col = 0
		}
		if p.rows >= p.page { // this rune is the first of a row past the page

			m, err := p.out.Write(b[start:i])
			n += m
			if err != nil {
				return n, err
			}
			start = i
			if err := p.more(); err != nil {
				return n, err
			}
		}
		if r == '\n' {
			p.rows++
			p.col = 0
		} else {
			p.col += w
		}
		i += size
	}
	m, err := p.out.Write(b[start:])
	return n + m, err
}

// more shows the --More-- prompt and handles the answer.
func (p *Pager) more() error {
	if _, err := io.WriteString(p.out, morePrompt); err != nil {
		return err
	}
	k, err := p.readKey()
	if _, werr := io.WriteString(p.out, moreErase); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		p.quit = true
		return fmt.Errorf("lineedit: pager: %w", err)
	}
	switch {
	case k.code == keyRune && k.r == ' ':
		p.rows = 0
	case k.code == keyRune && (k.r == cr || k.r == lf):
		p.rows = p.page - 1
	default:
		p.quit = true
		return ErrPagerQuit
	}
	return nil
}

func (p *Pager) readKey() (key, error) {
	restore, err := p.e.makeRaw()
	if err != nil {
		return key{}, err
	}
	defer restore()
	return p.e.keys.readKey()
}
