package lineedit

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// syncBuf is a goroutine-safe output sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Take returns and clears what was written.
func (s *syncBuf) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// pipeEditor returns an editor reading from a pipe; keys are written to w.
func pipeEditor(t testing.TB, opts Options) (*Editor, *os.File, *syncBuf) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if opts.Term == "" {
		opts.Term = "vt100"
	}
	if opts.Width == 0 {
		opts.Width = 80
	}
	out := &syncBuf{}
	e, err := New(r, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, w, out
}

func send(t *testing.T, w *os.File, keys string) {
	t.Helper()
	if _, err := w.WriteString(keys); err != nil {
		t.Fatal(err)
	}
}

// screen is a minimal terminal emulator understanding exactly what the
// editor may emit: printable text, CR, LF, BS and ESC [ n C/D/K/H/J. Any
// other control or escape sequence fails the test, as does text written
// past the last column (the editor must never make the terminal wrap).
type screen struct {
	t        *testing.T
	w        int
	dumb     bool
	grid     [][]rune // 0 marks the right half of a wide rune
	r, c     int
	maxWrite int // highest column written on the current row
}

func newScreen(t *testing.T, width int, dumb bool) *screen {
	return &screen{t: t, w: width, dumb: dumb, maxWrite: -1}
}

func (s *screen) row() []rune {
	for len(s.grid) <= s.r {
		s.grid = append(s.grid, nil)
	}
	for len(s.grid[s.r]) < s.w {
		s.grid[s.r] = append(s.grid[s.r], ' ')
	}
	return s.grid[s.r]
}

func (s *screen) feed(b string) {
	s.t.Helper()
	for len(b) > 0 {
		r, size := utf8.DecodeRuneInString(b)
		b = b[size:]
		switch {
		case r == '\r':
			s.c = 0
		case r == '\n':
			s.r++
			s.maxWrite = -1
		case r == '\b':
			if s.c > 0 {
				s.c--
			}
		case r == 0x1b:
			if s.dumb {
				s.t.Fatalf("escape sequence written on a dumb terminal: %q", b)
			}
			if len(b) == 0 || b[0] != '[' {
				s.t.Fatalf("unexpected escape sequence %q", b)
			}
			i := 1
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				i++
			}
			if i == len(b) {
				s.t.Fatalf("truncated escape sequence %q", b)
			}
			n := 1
			if i > 1 {
				n, _ = strconv.Atoi(b[1:i])
			}
			switch b[i] {
			case 'C':
				s.c = min(s.c+n, s.w-1)
			case 'D':
				s.c = max(s.c-n, 0)
			case 'K':
				row := s.row()
				for j := s.c; j < s.w; j++ {
					row[j] = ' '
				}
			case 'H':
				s.r, s.c = 0, 0
			case 'J':
				s.grid = nil
			default:
				s.t.Fatalf("unexpected escape sequence %q", b)
			}
			b = b[i+1:]
		case r < 0x20 || r == 0x7f:
			s.t.Fatalf("unexpected control character %q", r)
		default:
			wd := runeWidth(r)
			if s.c+wd > s.w {
				s.t.Fatalf("text %q written past the last column (col %d, width %d)", r, s.c, s.w)
			}
			row := s.row()
			row[s.c] = r
			if wd == 2 {
				row[s.c+1] = 0
			}
			s.maxWrite = max(s.maxWrite, s.c+wd-1)
			s.c += wd
		}
	}
}

// line returns the cursor row's text, right-trimmed.
func (s *screen) line() string {
	var b strings.Builder
	for _, r := range s.row() {
		if r != 0 {
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), " ")
}
