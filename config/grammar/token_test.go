package grammar

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		line string
		want []Token
	}{
		{"", nil},
		{"   \t ", nil},
		{"interface eth0", []Token{{"interface", 0, false}, {"eth0", 10, false}}},
		{"  mtu\t1400  ", []Token{{"mtu", 2, false}, {"1400", 6, false}}},
		{"ip address 1.2.3.4/24\r", []Token{{"ip", 0, false}, {"address", 3, false}, {"1.2.3.4/24", 11, false}}},
		{`description "Connection to WAN"`, []Token{{"description", 0, false}, {"Connection to WAN", 12, true}}},
		{`remark ""`, []Token{{"remark", 0, false}, {"", 7, true}}},
		{`psk "a \"b\" c\\d"`, []Token{{"psk", 0, false}, {`a "b" c\d`, 4, true}}},
		// a backslash before anything else is literal, inside quotes and out
		{`psk "a\tb" c\"d`, []Token{{"psk", 0, false}, {`a\tb`, 4, true}, {`c\"d`, 11, false}}},
		// a quote inside a word does not start a quoted string
		{`local-id a"b`, []Token{{"local-id", 0, false}, {`a"b`, 9, false}}},
		// quoted strings need no blank around them
		{`x"a b"y`, []Token{{`x"a`, 0, false}, {`b"y`, 4, false}}},
		{`"a b""c"`, []Token{{"a b", 0, true}, {"c", 5, true}}},
		{"!comment", []Token{{"!comment", 0, false}}},
		{"é → x", []Token{{"é", 0, false}, {"→", 3, false}, {"x", 7, false}}},
	}
	for _, tt := range tests {
		got, err := Tokenize(tt.line)
		if err != nil {
			t.Errorf("Tokenize(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokenize(%q)\n got %+v\nwant %+v", tt.line, got, tt.want)
		}
	}
}

func TestTokenizeUnterminated(t *testing.T) {
	for line, col := range map[string]int{
		`description "abc`:  12,
		`"`:                 0,
		`psk "a\"`:          4,
		`x "a" "b \\" "c`:   13,
		`remark "ends in\"`: 7,
	} {
		toks, err := Tokenize(line)
		var te *TokenizeError
		if !errors.As(err, &te) {
			t.Errorf("Tokenize(%q) = %v, %v; want a TokenizeError", line, toks, err)
			continue
		}
		if te.Col != col {
			t.Errorf("Tokenize(%q): error at column %d, want %d", line, te.Col, col)
		}
		if !strings.Contains(te.Error(), "unterminated") {
			t.Errorf("error text %q", te.Error())
		}
	}
}

func TestAppendTokensReuses(t *testing.T) {
	buf := make([]Token, 0, 8)
	toks, err := AppendTokens(buf, "a b c")
	if err != nil || len(toks) != 3 || &toks[0] != &buf[:1][0] {
		t.Fatalf("AppendTokens did not append to the buffer: %v %v", toks, err)
	}
	toks, _ = AppendTokens(toks[:0], "d")
	if len(toks) != 1 || toks[0].Text != "d" {
		t.Fatalf("reuse: %v", toks)
	}
}

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"plain":       "plain",
		"":            `""`,
		"two words":   `"two words"`,
		"tab\there":   "\"tab\there\"",
		`a"b`:         `"a\"b"`,
		`back\slash`:  `back\slash`,
		`back\ slash`: `"back\\ slash"`,
		`"`:           `"\""`,
		`\`:           `\`,
		"cr\r":        "\"cr\r\"",
		"!bang":       "!bang",
		"é":           "é",
	}
	for in, want := range tests {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
		if got := string(AppendQuote([]byte("x "), in)); got != "x "+want {
			t.Errorf("AppendQuote(%q) = %q", in, got)
		}
	}
}

// Quote gives a single token that Tokenize turns back into the value, for
// any value without a line break.
func TestQuoteTokenizeRoundTrip(t *testing.T) {
	check := func(s string) bool {
		s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
		return roundTrips(s)
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 5000}); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", " ", `\`, `\\`, `"`, `\"`, `a\`, `"a b"`, `\" x`, "\t", "a\x00b", "\v\f"} {
		if !roundTrips(s) {
			t.Errorf("%q does not round-trip through Quote and Tokenize", s)
		}
	}
}

func roundTrips(s string) bool {
	q := Quote(s)
	toks, err := Tokenize("cmd " + q + " next")
	return err == nil && len(toks) == 3 && toks[1].Text == s && toks[2].Text == "next" &&
		toks[1].Quoted == strings.HasPrefix(q, `"`)
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", `a"b`, `a\b`, `\"`, "x\ty"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "\r\n") {
			return // a value never spans lines
		}
		if !roundTrips(s) {
			t.Fatalf("%q -> %q does not tokenize back", s, Quote(s))
		}
	})
}
