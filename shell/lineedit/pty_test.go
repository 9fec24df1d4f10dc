package lineedit

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyHarness is an editor on the slave side of a real pseudo-terminal; the
// test types on the master side and collects what the terminal shows.
type ptyHarness struct {
	t    *testing.T
	ptmx *os.File
	tty  *os.File
	out  *syncBuf
	seen strings.Builder // everything taken from out so far
}

func newPTY(t *testing.T, cols, rows uint16) *ptyHarness {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("pty.Open: %v (a pseudo-terminal is required for this test)", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: cols, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	h := &ptyHarness{t: t, ptmx: ptmx, tty: tty, out: &syncBuf{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(h.out, ptmx) // ends with EIO when the tty closes
	}()
	t.Cleanup(func() {
		tty.Close()
		ptmx.Close()
		<-done
	})
	return h
}

func (h *ptyHarness) termios() *unix.Termios {
	h.t.Helper()
	tio, err := unix.IoctlGetTermios(int(h.tty.Fd()), unix.TCGETS)
	if err != nil {
		h.t.Fatal(err)
	}
	return tio
}

func (h *ptyHarness) cooked() bool {
	tio := h.termios()
	return tio.Lflag&unix.ICANON != 0 && tio.Lflag&unix.ECHO != 0 && tio.Lflag&unix.ISIG != 0
}

// waitFor waits until the terminal has shown s (after what was already
// consumed) and returns the output up to and including it. The deadline
// only turns a hang into a failure; it is not a performance budget.
func (h *ptyHarness) waitFor(s string) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got strings.Builder
	for {
		got.WriteString(h.out.Take())
		if i := strings.Index(got.String(), s); i >= 0 {
			all := got.String()
			h.out.mu.Lock()
			rest := all[i+len(s):]
			// Put back what follows s.
			h.out.b.Reset()
			h.out.b.WriteString(rest + h.out.b.String())
			h.out.mu.Unlock()
			h.seen.WriteString(all[:i+len(s)])
			return all[:i+len(s)]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("terminal never showed %q; got %q", s, got.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *ptyHarness) typeKeys(s string) {
	h.t.Helper()
	if _, err := h.ptmx.WriteString(s); err != nil {
		h.t.Fatal(err)
	}
}

type result struct {
	line string
	err  error
}

func TestPTYReadLine(t *testing.T) {
	h := newPTY(t, 30, 10)
	e, err := New(h.tty, h.tty, Options{Term: "xterm-256color"})
	if err != nil {
		t.Fatal(err)
	}
	if w, ht := e.Size(); w != 30 || ht != 10 {
		t.Errorf("Size = %dx%d, want 30x10", w, ht)
	}
	if !h.cooked() {
		t.Fatal("pty does not start in cooked mode")
	}
	res := make(chan result, 1)
	read := func(p string) {
		go func() {
			l, err := e.ReadLine(p)
			res <- result{l, err}
		}()
	}
	wait := func() result {
		select {
		case r := <-res:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("ReadLine did not return")
		}
		return result{}
	}

	read("R1#")
	h.waitFor("R1#") // raw mode is on once the prompt is shown
	if h.cooked() {
		t.Error("terminal still in cooked mode during ReadLine")
	}
	long := "description " + strings.Repeat("x", 30)
	h.typeKeys(long + "\r")
	r := wait()
	if r.err != nil || r.line != long {
		t.Fatalf("ReadLine = %q, %v", r.line, r.err)
	}
	shown := h.waitFor("\r\n")
	if !strings.Contains(shown, "\x1b[26D$") {
		t.Errorf("long line on a 30-column terminal not scrolled: %q", shown)
	}
	if !h.cooked() {
		t.Error("terminal mode not restored after ReadLine")
	}

	// Ctrl-C is a key in raw mode (no SIGINT); Ctrl-Z too (no SIGTSTP).
	read("R1#")
	h.waitFor("R1#")
	h.typeKeys("abc\x03")
	if r := wait(); !errors.Is(r.err, ErrInterrupt) {
		t.Fatalf("Ctrl-C: %q, %v", r.line, r.err)
	}
	h.waitFor("^C\r\n")
	read("R1(config)#")
	h.waitFor("R1(config)#")
	h.typeKeys("\x1a")
	if r := wait(); !errors.Is(r.err, ErrCtrlZ) {
		t.Fatalf("Ctrl-Z: %q, %v", r.line, r.err)
	}
	h.waitFor("^Z\r\n")

	// Pager on the same terminal: raw only while waiting at --More--.
	done := make(chan error, 1)
	go func() {
		p := e.NewPager(3)
		_, err := io.WriteString(p, numbered(5))
		done <- err
	}()
	h.waitFor("l2\r\n --More-- ") // cooked output: ONLCR adds the CRs
	if h.cooked() {
		t.Error("terminal in cooked mode at --More--")
	}
	h.typeKeys("q")
	select {
	case err := <-done:
		if !errors.Is(err, ErrPagerQuit) {
			t.Errorf("pager err %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pager did not return")
	}
	if !h.cooked() {
		t.Error("terminal mode not restored after the pager")
	}
	h.waitFor(moreErase)

	if strings.Contains(h.seen.String(), "\x1b[6n") {
		t.Error("cursor position query written")
	}
}
