package lineedit

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

const prompt = "R1#"

func TestTypeAndEnter(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, "show run\r")
	line, err := e.ReadLine(prompt)
	if err != nil || line != "show run" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#show run\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestEditingKeys(t *testing.T) {
	tests := []struct {
		name, keys, line, out string // out: "" means not checked
	}{
		{"backspace DEL", "abc\x7f\r", "ab", "abc\b\x1b[K\r\n"},
		{"backspace ^H", "abc\x08\r", "ab", "abc\b\x1b[K\r\n"},
		{"backspace at start", "\x7fa\r", "a", "a\r\n"},
		{"insert middle", "ac\x1b[Db\r", "abc", "ac\bbc\b\r\n"},
		{"ctrl-a insert", "bc\x01a\r", "abc", "bc\x1b[2Dabc\x1b[2D\r\n"},
		{"ctrl-b ctrl-f", "ac\x02\x02\x06b\r", "abc", "ac\b\b\x1b[Cbc\b\r\n"},
		{"ctrl-e", "bc\x01a\x05d\r", "abcd", "bc\x1b[2Dabc\x1b[2D\x1b[2Cd\r\n"},
		{"ctrl-k", "abcd\x1b[D\x1b[D\x0b\r", "ab", "abcd\b\b\x1b[K\r\n"},
		{"ctrl-u", "abcd\x1b[D\x15\r", "d", "abcd\b\x1b[3Dd\x1b[K\b\r\n"},
		{"ctrl-x like ctrl-u", "abcd\x18\r", "", "abcd\x1b[4D\x1b[K\r\n"},
		{"ctrl-w", "show ip route\x17\r", "show ip ", "show ip route\x1b[5D\x1b[K\r\n"},
		{"ctrl-w spaces", "show ip   \x17\r", "show ", "show ip   \x1b[5D\x1b[K\r\n"},
		{"ctrl-w ctrl-y", "a bc\x17\x19\r", "a bc", "a bc\x1b[2D\x1b[Kbc\r\n"},
		{"delete CSI", "abc\x01\x1b[3~\r", "bc", "abc\x1b[3Dbc\x1b[K\x1b[2D\r\n"},
		{"ctrl-d mid-line", "abc\x01\x04\r", "bc", "abc\x1b[3Dbc\x1b[K\x1b[2D\r\n"},
		{"ctrl-d at end", "abc\x04\r", "abc", "abc\r\n"},
		{"delete at end", "abc\x1b[3~\r", "abc", "abc\r\n"},
		{"utf-8", "café\r", "café", "café\r\n"},
		{"utf-8 backspace", "caf\u00e9\x7f\r", "caf", "café\b\x1b[K\r\n"},
		{"wide runes", "日本\x1b[D語\r", "日語本", "日本\x1b[2D語本\x1b[2D\r\n"},
		{"ctrl-t at end", "ab\x14\r", "ba", "ab\x1b[2Dba\r\n"},
		{"ctrl-t middle", "abc\x02\x14\r", "acb", ""},
		{"esc-b esc-d", "one two\x1bb\x1bd\r", "one ", "one two\x1b[3D\x1b[K\r\n"},
		{"esc-f", "one two\x01\x1bfX\r", "oneX two", ""},
		{"esc-backspace", "one two\x1b\x7f\r", "one ", ""},
		{"ctrl-left + delete", "one two\x1b[1;5D\x1b[3~\r", "one wo", "one two\x1b[3Dwo\x1b[K\x1b[2D\r\n"},
		{"ctrl-right", "one two\x01\x1b[1;5CX\r", "oneX two", ""},
		{"ss3 home end", "b\x1bOHa\x1bOFc\r", "abc", "b\bab\b\x1b[Cc\r\n"},
		{"csi H F", "b\x1b[Ha\x1b[Fc\r", "abc", ""},
		{"csi 1~ 4~", "b\x1b[1~a\x1b[4~c\r", "abc", ""},
		{"csi 7~ 8~", "b\x1b[7~a\x1b[8~c\r", "abc", ""},
		{"ss3 arrows", "ac\x1bODb\x1bOCd\r", "abcd", ""},
		{"up down without history", "a\x1b[A\x1b[Bb\r", "ab", "ab\r\n"},
		{"unknown CSI ignored", "a\x1b[15~b\r", "ab", "ab\r\n"},
		{"unknown esc-x", "a\x1bxb\r", "axb", "axb\r\n"},
		{"esc esc arrow", "ab\x1b\x1b[Dc\r", "acb", "ab\bcb\b\r\n"},
		{"bracketed paste markers ignored", "a\x1b[200~bc\x1b[201~\r", "abc", "abc\r\n"},
		{"DEC private CSI ignored", "a\x1b[?25hb\r", "ab", "ab\r\n"},
		{"broken CSI then enter", "a\x1b[\r", "a", "a\r\n"},
		{"bell ignored", "a\x07b\r", "ab", "ab\r\n"},
		{"NUL ignored", "a\x00b\r", "ab", "ab\r\n"},
		{"LF is enter", "ab\n", "ab", "ab\r\n"},
		{"ctrl-v printable", "a\x16xb\r", "axb", "axb\r\n"},
		{"ctrl-v control ignored", "a\x16\tb\x16\x03\r", "ab", "ab\r\n"},
		{"question mark without Help", "a?\r", "a?", "a?\r\n"},
		{"tab without Complete", "a\tb\r", "ab", "ab\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, w, out := pipeEditor(t, Options{})
			send(t, w, tc.keys)
			line, err := e.ReadLine(prompt)
			if err != nil || line != tc.line {
				t.Fatalf("ReadLine = %q, %v; want %q", line, err, tc.line)
			}
			got := out.Take()
			if tc.out != "" && got != prompt+tc.out {
				t.Errorf("output\n%q\nwant\n%q", got, prompt+tc.out)
			}
			scr := newScreen(t, 80, false)
			scr.feed(got)
		})
	}
}

func TestCRLFAndPaste(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	var want []string
	var script strings.Builder
	for i := range 300 {
		l := fmt.Sprintf("interface eth%d", i)
		want = append(want, l)
		script.WriteString(l)
		switch i % 3 { // mixed line endings, all one Enter each
		case 0:
			script.WriteString("\r\n")
		case 1:
			script.WriteString("\r")
		default:
			script.WriteString("\n")
		}
	}
	go func() {
		// More than the pipe and bufio buffers hold: ReadLine must keep
		// what it read ahead between calls.
		_, _ = w.WriteString(script.String())
		w.Close()
	}()
	var echo strings.Builder
	for _, l := range want {
		got, err := e.ReadLine(prompt)
		if err != nil || got != l {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, l)
		}
		echo.WriteString(prompt + l + "\r\n")
	}
	if line, err := e.ReadLine(prompt); err != io.EOF || line != "" {
		t.Fatalf("after paste: %q, %v; want EOF", line, err)
	}
	echo.WriteString(prompt)
	// A pasted line is echoed verbatim: no redraw noise, no escapes.
	if got := out.Take(); got != echo.String() {
		t.Errorf("echo differs from pasted text (%d vs %d bytes)", len(got), echo.Len())
	}
}

func TestCtrlC(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, "abc\x01\x03show\r")
	line, err := e.ReadLine(prompt)
	if !errors.Is(err, ErrInterrupt) || line != "" {
		t.Fatalf("ReadLine = %q, %v; want ErrInterrupt", line, err)
	}
	if got, want := out.Take(), "R1#abc\x1b[3D\x1b[3C^C\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	line, err = e.ReadLine(prompt)
	if err != nil || line != "show" {
		t.Fatalf("next ReadLine = %q, %v", line, err)
	}
	if h := e.History().Entries(); len(h) != 1 || h[0] != "show" {
		t.Errorf("history %q: interrupted line must not be stored", h)
	}
}

func TestCtrlZ(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, "hostname r2\x1a\x1a")
	line, err := e.ReadLine("R1(config)#")
	if !errors.Is(err, ErrCtrlZ) || line != "hostname r2" {
		t.Fatalf("ReadLine = %q, %v; want line and ErrCtrlZ", line, err)
	}
	if got, want := out.Take(), "R1(config)#hostname r2^Z\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	line, err = e.ReadLine("R1(config)#")
	if !errors.Is(err, ErrCtrlZ) || line != "" {
		t.Fatalf("ReadLine = %q, %v; want empty line and ErrCtrlZ", line, err)
	}
	if h := e.History().Entries(); len(h) != 1 || h[0] != "hostname r2" {
		t.Errorf("history %q", h)
	}
}

func TestCtrlDAndEOF(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, "\x04")
	if line, err := e.ReadLine(prompt); err != io.EOF || line != "" {
		t.Fatalf("Ctrl-D on empty line: %q, %v; want io.EOF", line, err)
	}
	if got, want := out.Take(), "R1#"; got != want { // the caller decides what follows
		t.Errorf("output %q, want %q", got, want)
	}
	// End of input with a pending line: the line, then io.EOF.
	send(t, w, "show")
	w.Close()
	if line, err := e.ReadLine(prompt); err != nil || line != "show" {
		t.Fatalf("pending line at EOF: %q, %v", line, err)
	}
	if line, err := e.ReadLine(prompt); err != io.EOF || line != "" {
		t.Fatalf("at EOF: %q, %v; want io.EOF", line, err)
	}
	if got, want := out.Take(), "R1#show\r\nR1#"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("channel closed")
}

func TestWriteErrorEndsReadLine(t *testing.T) {
	e, w, _ := pipeEditor(t, Options{})
	fw := &failWriter{}
	e.out = fw
	send(t, w, "abc\r")
	if _, err := e.ReadLine(prompt); err == nil || !strings.Contains(err.Error(), "channel closed") {
		t.Fatalf("err = %v, want the write error", err)
	}
	if fw.n != 1 {
		t.Errorf("%d writes after the error, want 1", fw.n)
	}
}

func TestCtrlL(t *testing.T) {
	e, w, out := pipeEditor(t, Options{})
	send(t, w, "abc\x02\x0c\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "abc" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#abc\b\x1b[H\x1b[2JR1#abc\b\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	e, w, out = pipeEditor(t, Options{Term: "dumb"})
	send(t, w, "abc\x02\x0c\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "abc" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#abc\bc\r\nR1#abc\b\r\n"; got != want {
		t.Errorf("dumb output %q, want %q", got, want)
	}
}

func TestDumbTerminal(t *testing.T) {
	e, w, out := pipeEditor(t, Options{Term: "dumb"})
	// insert in the middle, move around, delete, history, kill.
	send(t, w, "shw run\x01\x06\x06o\x05\x7f\x7f\x7fver\x01\x0b\x19\r")
	line, err := e.ReadLine(prompt)
	if err != nil || line != "show ver" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	got := out.Take()
	if strings.ContainsRune(got, 0x1b) {
		t.Errorf("escape sequence on a dumb terminal: %q", got)
	}
	want := "R1#shw run" +
		"\b\b\b\b\b\b\b" + "sh" + // Ctrl-A, Ctrl-F x2 rewrite "sh"
		"ow run\b\b\b\b\b" + // insert o, back to after it
		"w run" + // Ctrl-E rewrites
		"\b \b" + "\b \b" + "\b \b" + // 3 backspaces
		"ver" +
		"\b\b\b\b\b\b\b\b" + "        \b\b\b\b\b\b\b\b" + // Ctrl-A, Ctrl-K
		"show ver" + "\r\n" // Ctrl-Y
	if got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}
}

func TestHistoryNavigation(t *testing.T) {
	h, _ := NewHistory("", 10)
	for _, l := range []string{"one", "two", "three"} {
		_ = h.Add(l)
	}
	e, w, out := pipeEditor(t, Options{History: h})
	send(t, w, "x\x1b[A\x1b[A\x1b[B\x1b[B\x1b[B\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "x" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	scr := newScreen(t, 80, false)
	scr.feed(out.Take())
	send(t, w, "\x10\x10\x10\x10\x10\x0e\r") // Ctrl-P beyond the oldest, Ctrl-N
	if line, err := e.ReadLine(prompt); err != nil || line != "two" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	send(t, w, "\x1b[A\x7f\x7fre\r") // edit a recalled line
	if line, err := e.ReadLine(prompt); err != nil || line != "tre" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := strings.Join(h.Entries(), ","), "one,two,three,x,two,tre"; got != want {
		t.Errorf("history %s, want %s", got, want)
	}
	// Exact redraw of a recall: back to the start, rewrite, erase the rest.
	send(t, w, "abcdefgh\x1b[A\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "tre" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	out.Take()
	send(t, w, "trek\x1b[A\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "tre" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#trek\b\x1b[K\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestHelp(t *testing.T) {
	var calls []string
	help := func(line string) string {
		calls = append(calls, line)
		switch line {
		case "show ":
			return "  running-config  Current operating configuration\n  version         System hardware and software status\n\n"
		case "sh ":
			return "  version  Version"
		}
		return ""
	}
	e, w, out := pipeEditor(t, Options{Help: help})

	send(t, w, "show ?\r")
	line, err := e.ReadLine(prompt)
	if err != nil || line != "show " {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	want := "R1#show ?\r\n" +
		"  running-config  Current operating configuration\r\n" +
		"  version         System hardware and software status\r\n" +
		"\r\n" +
		"R1#show \r\n"
	if got := out.Take(); got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}

	// Cursor in the middle: help for the text left of the cursor, no '?'
	// echoed, cursor restored after the redraw.
	send(t, w, "sh ver\x1b[D\x1b[D\x1b[D?X\r")
	line, err = e.ReadLine(prompt)
	if err != nil || line != "sh Xver" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	want = "R1#sh ver\b\b\b" + "\x1b[3C\r\n" + "  version  Version\r\n" + "R1#sh ver\x1b[3D" + "Xver\x1b[3D" + "\r\n"
	if got := out.Take(); got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}

	// Inside a quoted string, and after Ctrl-V, '?' is a character.
	send(t, w, "description \"why?\" a\x16?\r")
	line, err = e.ReadLine(prompt)
	if err != nil || line != "description \"why?\" a?" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := strings.Join(calls, "|"), "show |sh "; got != want {
		t.Errorf("Help calls %q, want %q", got, want)
	}

	// Empty help text: just a fresh prompt with the line.
	send(t, w, "zz?\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "zz" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#description \"why?\" a?\r\nR1#zz?\r\nR1#zz\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// iosComplete completes the last word against a keyword list: longest
// common prefix, plus a space when unique.
func iosComplete(words []string, calls *[]string) func(string) (string, []string) {
	return func(line string) (string, []string) {
		*calls = append(*calls, line)
		i := strings.LastIndexByte(line, ' ') + 1
		prefix := line[i:]
		var cands []string
		for _, w := range words {
			if strings.HasPrefix(w, prefix) {
				cands = append(cands, w)
			}
		}
		if len(cands) == 0 {
			return line, nil
		}
		if len(cands) == 1 {
			return line[:i] + cands[0] + " ", cands
		}
		lcp := cands[0]
		for _, c := range cands[1:] {
			for !strings.HasPrefix(c, lcp) {
				lcp = lcp[:len(lcp)-1]
			}
		}
		return line[:i] + lcp, cands
	}
}

func TestComplete(t *testing.T) {
	var calls []string
	e, w, out := pipeEditor(t, Options{Complete: iosComplete([]string{"show", "shutdown", "ssh"}, &calls)})
	send(t, w, "s\th\to\t\r")
	line, err := e.ReadLine(prompt)
	if err != nil || line != "show " {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	want := "R1#s" +
		"\r\nshow      shutdown  ssh\r\nR1#s" + // no progress: list, redraw
		"h" +
		"\r\nshow      shutdown\r\nR1#sh" +
		"o" +
		"w " + // unique: completed
		"\r\n"
	if got := out.Take(); got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}
	if got, want := strings.Join(calls, "|"), "s|sh|sho"; got != want {
		t.Errorf("Complete calls %q, want %q", got, want)
	}

	// Progress in the middle keeps the text right of the cursor.
	calls = nil
	send(t, w, "shoX\x1b[D\t\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "show X" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got := strings.Join(calls, "|"); got != "sho" {
		t.Errorf("Complete calls %q", got)
	}
	out.Take()
	// No candidates: nothing happens.
	send(t, w, "x\t\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "x" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	if got, want := out.Take(), "R1#x\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestCompleteListColumns(t *testing.T) {
	var calls []string
	words := []string{"aaa1", "aaa2", "aaa3", "aaa4", "aaa5"}
	e, w, out := pipeEditor(t, Options{Width: 20, Complete: iosComplete(words, &calls)})
	send(t, w, "a\t\t\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "aaa" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	want := "R1#a" + "aa" + "\r\naaa1  aaa2  aaa3\r\naaa4  aaa5\r\nR1#aaa" + "\r\n"
	if got := out.Take(); got != want {
		t.Errorf("output\n%q\nwant\n%q", got, want)
	}
}

func TestAsk(t *testing.T) {
	var calls int
	h, _ := NewHistory("", 10)
	_ = h.Add("show run")
	e, w, out := pipeEditor(t, Options{
		History:  h,
		Help:     func(string) string { calls++; return "help" },
		Complete: func(l string) (string, []string) { calls++; return l + "x", nil },
	})
	// Up does not recall, Tab and '?' are not hooks, Ctrl-Y/arrows still edit.
	send(t, w, "\x1b[Ay\tes?\x1b[D!\r")
	ans, err := e.Ask("Proceed? [yes/no]: ")
	if err != nil || ans != "yes!?" {
		t.Fatalf("Ask = %q, %v", ans, err)
	}
	if got, want := out.Take(), "Proceed? [yes/no]: yes?\b!?\b\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if calls != 0 {
		t.Errorf("%d Help/Complete calls during Ask", calls)
	}
	if got := strings.Join(h.Entries(), ","); got != "show run" {
		t.Errorf("history %q: answers must not be recorded", got)
	}

	send(t, w, "s3cr\x7fr3t\x01\x0b\x19\r")
	secret, err := e.AskSecret("Key: ")
	if err != nil || secret != "s3cr3t" {
		t.Fatalf("AskSecret = %q, %v", secret, err)
	}
	if got, want := out.Take(), "Key: \r\n"; got != want {
		t.Errorf("output %q, want %q (no echo)", got, want)
	}
	send(t, w, "abc\x03")
	if _, err := e.AskSecret("Key: "); !errors.Is(err, ErrInterrupt) {
		t.Fatalf("AskSecret Ctrl-C: %v", err)
	}
	if got, want := out.Take(), "Key: ^C\r\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	// Back to normal: hooks and history work again.
	send(t, w, "\x1b[A\r")
	if line, err := e.ReadLine(prompt); err != nil || line != "show run" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
}
