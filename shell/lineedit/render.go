package lineedit

import (
	"bytes"
	"strconv"
	"strings"
)

// cell is one displayed rune (or a '$' scroll marker) and its width.
type cell struct {
	r rune
	w int
}

// minAvail is the smallest input area we lay out, even if the terminal
// (or the prompt) leaves less room; the terminal then wraps, which is ugly
// but never loops.
const minAvail = 8

// lineState is the edited line and a model of what is on the screen.
//
// The screen model: the prompt was written once; the input area starts at
// the column where the prompt ended and is avail columns wide, so that the
// line never reaches the terminal's last column (no auto-wrap, so relative
// cursor moves stay on one row). If the prompt leaves less than minAvail
// columns, the input area starts at the beginning of the next row instead
// (newline). shown is what is displayed in the input area and col the
// cursor column inside it.
type lineState struct {
	buf []rune
	pos int

	prompt  string
	avail   int
	newline bool
	hidden  bool // nothing of the line is displayed (secrets)
	off     int  // first rune displayed when the line is scrolled

	shown []cell
	col   int

	widths []int  // scratch for layout
	next   []cell // scratch for layout; swapped with shown
}

func newLineState(prompt string, width int) *lineState {
	s := &lineState{prompt: prompt}
	s.setWidth(width)
	return s
}

func (s *lineState) setWidth(width int) {
	pw := stringWidth(s.prompt)
	room := width - 1 - pw%width
	if pw > 0 && pw%width == 0 {
		room = 0 // the cursor sits in the last column, about to wrap
	}
	s.newline = room < minAvail
	if s.newline {
		room = width - 1
	}
	s.avail = max(room, minAvail)
}

func (s *lineState) String() string { return string(s.buf) }

func (s *lineState) margin() int { return min(10, s.avail/4) }

// end returns, for a window starting at off, the exclusive index of the last
// rune shown and whether a right-hand '$' marker is needed.
func (s *lineState) end(off int, w []int) (int, bool) {
	col := 0
	if off > 0 {
		col = 1
	}
	rest := 0
	for _, x := range w[off:] {
		rest += x
	}
	if col+rest <= s.avail {
		return len(w), false
	}
	i := off
	for i < len(w) && col+w[i] <= s.avail-1 {
		col += w[i]
		i++
	}
	return i, true
}

// visible reports whether the cursor is displayable with the window at off.
func (s *lineState) visible(off int, w []int) bool {
	if off > s.pos {
		return false
	}
	if off == s.pos {
		return true
	}
	e, marker := s.end(off, w)
	return !marker || s.pos < e
}

// slack is the number of free columns at the right with the window at off.
func (s *lineState) slack(off int, w []int) int {
	col := 0
	if off > 0 {
		col = 1
	}
	for _, x := range w[off:] {
		col += x
	}
	return s.avail - col
}

// layout scrolls the window if needed and returns the cells to display and
// the cursor column.
func (s *lineState) layout() ([]cell, int) {
	if s.hidden {
		return nil, 0
	}
	w := s.widths[:0]
	for range s.buf {
		w = append(w, 0)
	}
	s.widths = w
	total := 0
	for i, r := range s.buf {
		w[i] = runeWidth(r)
		total += w[i]
	}
	if total <= s.avail {
		s.off = 0
	} else {
		m := s.margin()
		if s.off > s.pos {
			s.off = max(0, s.pos-m)
		}
		if s.off > len(s.buf) {
			s.off = len(s.buf)
		}
		if !s.visible(s.off, w) {
			for !s.visible(s.off, w) {
				s.off++
			}
			for k := m; k > 0; k-- {
				if s.visible(s.off+k, w) {
					s.off += k
					break
				}
			}
		}
		// Scroll back right when deleting left a lot of free room.
		for s.off > 0 && s.visible(s.off-1, w) {
			if _, marker := s.end(s.off-1, w); marker || s.slack(s.off-1, w) < m {
				break
			}
			s.off--
		}
	}
	cells := s.next[:0]
	col := 0
	if s.off > 0 {
		cells = append(cells, cell{'$', 1})
		col = 1
	}
	e, marker := s.end(s.off, w)
	cur := -1
	for i := s.off; i < e; i++ {
		if i == s.pos {
			cur = col
		}
		cells = append(cells, cell{s.buf[i], w[i]})
		col += w[i]
	}
	if cur < 0 {
		cur = col
	}
	if marker {
		cells = append(cells, cell{'$', 1})
	}
	s.next = cells
	return cells, cur
}

// renderer writes screen updates into a buffer.
type renderer struct {
	out  *bytes.Buffer
	dumb bool
}

func cellsWidth(c []cell) int {
	n := 0
	for _, x := range c {
		n += x.w
	}
	return n
}

// moveTo moves the cursor within the shown cells to column target.
func (r *renderer) moveTo(s *lineState, target int) {
	switch {
	case target < s.col:
		n := s.col - target
		if n == 1 || r.dumb {
			r.out.WriteString(strings.Repeat("\b", n))
		} else {
			r.out.WriteString("\x1b[" + strconv.Itoa(n) + "D")
		}
	case target > s.col:
		n := target - s.col
		if !r.dumb {
			if n == 1 {
				r.out.WriteString("\x1b[C")
			} else {
				r.out.WriteString("\x1b[" + strconv.Itoa(n) + "C")
			}
			break
		}
		// Dumb terminal: move right by writing what is already there.
		col := 0
		for _, c := range s.shown {
			if col >= s.col && col < target {
				r.out.WriteRune(c.r)
			}
			col += c.w
		}
	}
	s.col = target
}

// refresh brings the screen from s.shown to the current line, writing only
// from the first changed cell onwards.
func (r *renderer) refresh(s *lineState) {
	cells, cur := s.layout()
	i := 0
	for i < len(cells) && i < len(s.shown) && cells[i] == s.shown[i] {
		i++
	}
	if i < len(cells) || i < len(s.shown) {
		r.moveTo(s, cellsWidth(cells[:i]))
		for _, c := range cells[i:] {
			r.out.WriteRune(c.r)
		}
		newW, oldW := cellsWidth(cells), cellsWidth(s.shown)
		s.col = newW
		if oldW > newW {
			if r.dumb {
				r.out.WriteString(strings.Repeat(" ", oldW-newW))
				r.out.WriteString(strings.Repeat("\b", oldW-newW))
			} else {
				r.out.WriteString("\x1b[K")
			}
		}
		s.shown, s.next = cells, s.shown
	}
	r.moveTo(s, cur)
}

// redraw writes the prompt and the whole line, assuming the cursor is at the
// start of an empty screen row.
func (r *renderer) redraw(s *lineState) {
	r.out.WriteString(crlf(s.prompt))
	if s.newline {
		r.out.WriteString("\r\n")
	}
	s.shown, s.col = nil, 0
	r.refresh(s)
}

// toEnd moves the cursor after the last displayed cell.
func (r *renderer) toEnd(s *lineState) {
	r.moveTo(s, cellsWidth(s.shown))
}

// crlf converts bare LF to CR LF, as needed with output post-processing
// off (raw mode).
func crlf(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
