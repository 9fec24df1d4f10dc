package lineedit

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "l%d\n", i)
	}
	return b.String()
}

const more = " --More-- " + moreErase

func TestPagerSpaceEnterQuit(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, " \rq")
	p := e.NewPager(4) // 3 rows of output, then --More-- on the 4th
	text := numbered(10)
	n, err := p.Write([]byte(text))
	if !errors.Is(err, ErrPagerQuit) || !p.Quit() {
		t.Fatalf("Write err = %v, Quit %v; want ErrPagerQuit", err, p.Quit())
	}
	if want := len("l1\nl2\nl3\nl4\nl5\nl6\nl7\n"); n != want {
		t.Errorf("n = %d, want %d", n, want)
	}
	want := "l1\nl2\nl3\n" + more + // Space: a page
		"l4\nl5\nl6\n" + more + // Enter: a line
		"l7\n" + more // q: quit
	if got := out.Take(); got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}
	if n, err := p.Write([]byte("more\n")); n != 0 || !errors.Is(err, ErrPagerQuit) {
		t.Errorf("Write after quit = %d, %v", n, err)
	}
	if out.Take() != "" {
		t.Error("output after quit")
	}
}

func TestPagerExactPageNoPrompt(t *testing.T) {
	e, _, out := pipeEditor(t, Options{})
	p := e.NewPager(4)
	// Many small writes; exactly 3 rows: no --More-- (nothing follows).
	for _, s := range []string{"l1", "\n", "l2\nl", "3\n"} {
		if _, err := io.WriteString(p, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.Take(), "l1\nl2\nl3\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestPagerPromptBetweenWrites(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, " ")
	p := e.NewPager(3)
	if _, err := io.WriteString(p, "l1\nl2\n"); err != nil {
		t.Fatal(err)
	}
	if got := out.Take(); got != "l1\nl2\n" {
		t.Fatalf("first write %q", got)
	}
	if _, err := io.WriteString(p, "\nl4\n"); err != nil { // an empty row is a row
		t.Fatal(err)
	}
	if got, want := out.Take(), more+"\nl4\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestPagerWrappedRows(t *testing.T) {
	e, w, out := pipeEditor(t, Options{Width: 10})
	send(t, w, "q")
	p := e.NewPager(3)                     // 2 rows per page
	long := strings.Repeat("x", 25) + "\n" // 3 rows on a 10-column terminal
	_, err := io.WriteString(p, long)
	if !errors.Is(err, ErrPagerQuit) {
		t.Fatalf("err %v", err)
	}
	if got, want := out.Take(), strings.Repeat("x", 20)+more; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	// Exactly the width: no extra row for the newline.
	e, _, out = pipeEditor(t, Options{Width: 10})
	p = e.NewPager(3)
	text := strings.Repeat("y", 10) + "\n" + strings.Repeat("z", 10) + "\n"
	if _, err := io.WriteString(p, text); err != nil {
		t.Fatal(err)
	}
	if got := out.Take(); got != text {
		t.Errorf("output %q, want %q", got, text)
	}
}

func TestPagerDisabled(t *testing.T) {
	e, _, out := pipeEditor(t, Options{})
	p := e.NewPager(0)
	text := numbered(500)
	if n, err := io.WriteString(p, text); err != nil || n != len(text) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if out.Take() != text {
		t.Error("output changed with paging off")
	}
}

func TestPagerKeepsTypeAhead(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	// Space for the pager, an arrow key (a whole escape sequence quits,
	// it must not leak "[B" into the next line), then a typed-ahead line.
	send(t, w, " \x1b[Bshow ver\r")
	p := e.NewPager(2)
	_, err := io.WriteString(p, numbered(5))
	if !errors.Is(err, ErrPagerQuit) {
		t.Fatalf("err %v", err)
	}
	if got, want := out.Take(), "l1\n"+more+"l2\n"+more; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if line, err := e.ReadLine(prompt); err != nil || line != "show ver" {
		t.Fatalf("ReadLine after pager = %q, %v", line, err)
	}
}

func TestPagerEOF(t *testing.T) {
	e, w, _ := pipeEditor(t, Options{})
	w.Close()
	p := e.NewPager(2)
	_, err := io.WriteString(p, numbered(5))
	if !errors.Is(err, io.EOF) || !p.Quit() {
		t.Fatalf("err %v, quit %v; want io.EOF", err, p.Quit())
	}
}
