package lineedit

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkPasteLine: one pasted 60-character config line through ReadLine
// (decode, edit, echo, history).
func BenchmarkPasteLine(b *testing.B) {
	e, w, out := pipeEditor(b, Options{})
	_ = out
	line := " ip address 192.0.2.1/24 description \"uplink to ISP A\" x"
	go func() {
		for range b.N {
			if _, err := io.WriteString(w, line+"\r"); err != nil {
				return
			}
		}
	}()
	b.ResetTimer()
	for range b.N {
		if got, err := e.ReadLine(prompt); err != nil || got != line {
			b.Fatalf("ReadLine = %q, %v", got, err)
		}
		out.Take()
	}
}

// BenchmarkTypeLongLine: typing a 1000-rune line key by key on an 80-column
// terminal (horizontal scrolling), per line.
func BenchmarkTypeLongLine(b *testing.B) {
	e, _, _ := pipeEditor(b, Options{})
	text := []rune(strings.Repeat("abcdefghij", 100))
	var hist []string
	var pending []rune
	for range b.N {
		s := newLineState(prompt, 80)
		hidx := 0
		for _, r := range text {
			e.handle(s, key{r: r}, &hist, &hidx, &pending)
		}
		e.wbuf.Reset()
	}
}
