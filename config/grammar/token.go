// Package grammar is the command-line engine of mboxsh: a statement is
// declared once as a syntax string with help for every token, and matching,
// abbreviation, `?` help, completion, error carets and the rendering of a
// statement back to text all walk that one declaration (as FRR's DEFUN
// does). The engine knows nothing of the configuration it serves.
package grammar

import (
	"fmt"
	"strings"
)

// Token is one word of an input line.
type Token struct {
	Text   string // the word, with quotes removed
	Col    int    // 0-based column of its first byte in the line
	Quoted bool   // it was written in double quotes
}

// TokenizeError reports an unterminated quote.
type TokenizeError struct{ Col int }

func (e *TokenizeError) Error() string {
	return fmt.Sprintf("unterminated quoted string starting at column %d", e.Col+1)
}

// Tokenize splits a line at blanks; double quotes group words, and inside
// them \" and \\ stand for a quote and a backslash. Everything else is
// literal: no shell expansion, comments or escapes outside quotes.
func Tokenize(line string) ([]Token, error) {
	return AppendTokens(nil, line)
}

// AppendTokens is Tokenize appending to dst, so that a caller reading
// many lines can reuse one slice.
func AppendTokens(dst []Token, line string) ([]Token, error) {
	toks := dst
	i := 0
	for i < len(line) {
		c := line[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
			continue
		}
		start := i
		if c == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return toks, &TokenizeError{Col: start}
			}
			toks = append(toks, Token{Text: b.String(), Col: start, Quoted: true})
			continue
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n' {
			i++
		}
		toks = append(toks, Token{Text: line[start:i], Col: start})
	}
	return toks, nil
}

// Quote renders a value as one token: quoted iff it is empty or contains a
// blank or a quote, so that Tokenize gives it back unchanged. A backslash
// alone needs no quoting (outside quotes it is literal).
func Quote(s string) string {
	if !needsQuote(s) {
		return s
	}
	return string(AppendQuote(nil, s))
}

// AppendQuote appends Quote(s) to dst.
func AppendQuote(dst []byte, s string) []byte {
	if !needsQuote(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\':
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// quoteByte marks the bytes that make a value print quoted.
var quoteByte = [256]bool{' ': true, '\t': true, '"': true, '\r': true, '\n': true}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if quoteByte[s[i]] {
			return true
		}
	}
	return false
}
