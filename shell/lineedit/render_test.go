package lineedit

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestHorizontalScrollExact(t *testing.T) {
	// Width 20, prompt "R1#": 16 columns for the line (the last terminal
	// column is never written), scroll margin 4.
	e, w, out := pipeEditor(t, Options{Width: 20})
	send(t, w, "abcdefghijklmnopqrstuvwxyz\x01\r")
	line, err := e.ReadLine(prompt)
	if err != nil || line != "abcdefghijklmnopqrstuvwxyz" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	want := "R1#abcdefghijklmnop" +
		"\x1b[16D$ghijklmnopq\x1b[K" + // 17th rune: scroll, '$' marks hidden text
		"rstu" +
		"\x1b[15Dlmnopqrstuv\x1b[K" + // 22nd: scroll again, the '$' stays
		"wxyz" +
		"\x1b[16Dabcdefghijklmno$\x1b[16D" + // Ctrl-A: back to the start, '$' on the right
		"\r\n"
	got := out.Take()
	if got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}
	scr := newScreen(t, 20, false)
	scr.feed(strings.TrimSuffix(got, "\r\n"))
	if l := scr.line(); l != "R1#abcdefghijklmno$" || scr.c != 3 {
		t.Errorf("screen %q cursor %d", l, scr.c)
	}
	if scr.maxWrite > 18 {
		t.Errorf("wrote column %d of 20: the terminal may wrap", scr.maxWrite)
	}
}

func TestLongPromptStartsLineBelow(t *testing.T) {
	p := "router(config-ikev2-profile)#" // 29 columns
	e, w, out := pipeEditor(t, Options{Width: 32})
	send(t, w, "match identity remote any\r")
	line, err := e.ReadLine(p)
	if err != nil || line != "match identity remote any" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), p+"\r\nmatch identity remote any\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRenderRandom drives random edits and checks, after every key, what a
// VT100 (or dumb terminal) would show: prompt, the window of the line with
// '$' markers, the cursor column, and that nothing is written in the
// terminal's last column.
func TestRenderRandom(t *testing.T) {
	for _, dumb := range []bool{false, true} {
		for _, width := range []int{20, 33, 80} {
			for _, p := range []string{"R1#", "R1(config-if)#", "x"} {
				name := "vt100"
				if dumb {
					name = "dumb"
				}
				t.Run(name+"/"+p+"/"+strconv.Itoa(width), func(t *testing.T) {
					renderRandom(t, dumb, width, p, uint64(width))
				})
			}
		}
	}
}

var randKeys = []key{
	{code: keyLeft}, {code: keyRight}, {code: keyHome}, {code: keyEnd},
	{code: keyDelete}, {code: keyWordLeft}, {code: keyWordRight},
	{code: keyDeleteWordRight}, {code: keyDeleteWordLeft},
	{r: del}, {r: ctrlK}, {r: ctrlU}, {r: ctrlW}, {r: ctrlY}, {r: ctrlT},
	{r: ctrlA}, {r: ctrlE}, {r: ctrlB}, {r: ctrlF}, {r: ctrlL}, {r: ctrlR},
	{r: ctrlD}, {code: keyUp}, {code: keyDown},
}

var randRunes = []rune("abcdefghij klmnop qrstuvwxyz0123456789.-/日本語é")

func renderRandom(t *testing.T, dumb bool, width int, p string, seed uint64) {
	e, _, _ := pipeEditor(t, Options{Width: width})
	e.r.dumb = dumb
	rng := rand.New(rand.NewPCG(seed, 42))
	h, _ := NewHistory("", 5)
	for range 5 {
		_ = h.Add(randomText(rng, 5+rng.IntN(60)))
	}
	hist := h.Entries()
	hidx := len(hist)
	var pending []rune
	scr := newScreen(t, width, dumb)
	s := newLineState(p, width)
	e.r.redraw(s)
	for step := range 3000 {
		var k key
		if rng.IntN(3) > 0 {
			k = key{r: randRunes[rng.IntN(len(randRunes))]}
		} else {
			k = randKeys[rng.IntN(len(randKeys))]
		}
		if k.r == ctrlD && len(s.buf) == 0 {
			continue
		}
		if len(s.buf) > 90 { // keep lines between empty and a few screens
			k = key{r: ctrlU}
		}
		done, _, _ := e.handle(s, k, &hist, &hidx, &pending)
		if done {
			t.Fatalf("step %d: key %+v ended the line", step, k)
		}
		out := e.wbuf.String()
		e.wbuf.Reset()
		scr.feed(out)
		checkScreen(t, step, k, scr, s, p, width)
	}
}

func randomText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(randRunes[rng.IntN(len(randRunes))])
	}
	return b.String()
}

func widthOf(rs []rune) int {
	n := 0
	for _, r := range rs {
		n += runeWidth(r)
	}
	return n
}

// checkScreen checks the screen against the line, independently of the
// layout code except for the window start (s.off).
func checkScreen(t *testing.T, step int, k key, scr *screen, s *lineState, p string, width int) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d (key %+v, line %q pos %d off %d): "+format,
			append([]any{step, k, string(s.buf), s.pos, s.off}, args...)...)
	}
	pw := stringWidth(p)
	startCol := pw
	if pw+minAvail >= width {
		startCol = 0
	}
	avail := width - 1 - startCol
	if scr.maxWrite > width-2 {
		fail("wrote column %d of %d", scr.maxWrite, width)
	}
	line := s.buf
	off := s.off
	if widthOf(line) <= avail && off != 0 {
		fail("line fits but is scrolled")
	}
	// Expected window: '$' if scrolled, as many runes as fit, '$' if more.
	var view []rune
	if off > 0 {
		view = append(view, '$')
	}
	end := len(line)
	if widthOf(view)+widthOf(line[off:]) > avail {
		end = off
		for end < len(line) && widthOf(view)+widthOf(line[off:end+1]) <= avail-1 {
			end++
		}
	}
	view = append(view, line[off:end]...)
	if end < len(line) {
		view = append(view, '$')
	}
	if s.pos < off || s.pos > end || (s.pos == end && end < len(line)) {
		fail("cursor outside the window [%d,%d)", off, end)
	}
	wantRow := string(view)
	if startCol > 0 {
		wantRow = p + wantRow
	}
	if got, want := scr.line(), strings.TrimRight(wantRow, " "); got != want {
		fail("screen row\n%q\nwant\n%q", got, want)
	}
	curCol := startCol + widthOf(line[off:s.pos])
	if off > 0 {
		curCol++
	}
	if scr.c != curCol {
		fail("cursor column %d, want %d", scr.c, curCol)
	}
}
