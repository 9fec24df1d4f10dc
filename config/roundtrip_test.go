package config

import (
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

// checkRoundTrip checks, for a valid model x, that render(parse(render(x)))
// is render(x) and that parse(render(x)) is x.
func checkRoundTrip(t *testing.T, x *Config) {
	t.Helper()
	text := Render(x)
	got, err := Parse([]byte(text), "generated.cfg")
	if err != nil {
		t.Fatalf("rendered model does not parse: %v\n%s", err, text)
	}
	if again := Render(got); again != text {
		t.Fatalf("render(parse(render(x))) != render(x):\n%s\n---\n%s", text, again)
	}
	if want, have := normalize(x), normalize(got); !reflect.DeepEqual(want, have) {
		t.Fatalf("parse(render(x)) differs from x:\n%s\nwant %+v\n got %+v", text, want, have)
	}
}

func TestGeneratedModelsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 3000; i++ {
		g := &gen{e: randEntropy{r}, max: 1 + i%8}
		checkRoundTrip(t, g.model())
	}
}

// The same model written with other indentation, CRLF line ends, no `!`
// lines, or in the one-line form, parses to the same model.
func TestGeneratedModelsLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < 500; i++ {
		x := (&gen{e: randEntropy{r}, max: 5}).model()
		for _, iface := range x.Interfaces {
			// an unquoted one-word description would swallow the rest of
			// a one-line block: keep the layouts comparable
			iface.Description = ""
		}
		text := Render(x)
		want := normalize(x)
		for name, variant := range map[string]string{
			"two spaces":  strings.ReplaceAll(text, "\n ", "\n  "),
			"tabs":        strings.ReplaceAll(text, "\n ", "\n\t"),
			"flush left":  strings.ReplaceAll(text, "\n ", "\n"),
			"CRLF":        strings.ReplaceAll(text, "\n", "\r\n"),
			"no !":        strings.ReplaceAll(text, "\n!\n", "\n\n"),
			"comments":    strings.ReplaceAll(text, "\n!\n", "\n! a comment\n"),
			"one-line":    oneLine(text),
			"one-line no": strings.ReplaceAll(oneLine(text), "\n!", ""),
		} {
			got, err := Parse([]byte(variant), name)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, variant)
			}
			if have := normalize(got); !reflect.DeepEqual(want, have) {
				t.Fatalf("%s: parses to another model\n%s\n---\n%s", name, variant, Render(got))
			}
		}
	}
}

// oneLine joins each block onto its header line, as the vendor write-up
// prints configurations.
func oneLine(text string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(l, " ") {
			b.WriteString(l)
			continue
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	b.WriteByte('\n')
	return b.String()
}

// FuzzParse: no input makes Parse panic, and whatever parses renders to a
// fixed point of Parse and Render, with the same model.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/hq.cfg", "testdata/remote.cfg", "testdata/remote-oneline.cfg"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
		f.Add([]byte(strings.ReplaceAll(string(src), "\n", "\r\n")))
	}
	for _, c := range stmtCases {
		f.Add([]byte(strings.Join(c.lines, "\n")))
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 20; i++ {
		f.Add([]byte(Render((&gen{e: randEntropy{r}, max: 3}).model())))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(src, "fuzz.cfg")
		if err != nil {
			var se *SyntaxError
			if !strings.Contains(err.Error(), "fuzz.cfg:") || !errorsAs(err, &se) {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		text := Render(cfg)
		cfg2, err := Parse([]byte(text), "rendered.cfg")
		if err != nil {
			t.Fatalf("rendered configuration does not parse: %v\ninput:\n%q\nrendered:\n%s", err, src, text)
		}
		if text2 := Render(cfg2); text2 != text {
			t.Fatalf("not a fixed point:\n%s\n---\n%s", text, text2)
		}
		if a, b := normalize(cfg), normalize(cfg2); !reflect.DeepEqual(a, b) {
			t.Fatalf("the rendered text parses to another model:\n%s\n%+v\n%+v", text, a, b)
		}
	})
}

// FuzzRoundTrip: the fuzzer's bytes drive the model generator; every
// model it makes round-trips.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("mboxsh"))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 16; i++ {
		b := make([]byte, 64+i*32)
		for k := range b {
			b[k] = byte(r.IntN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, (&gen{e: &byteEntropy{b: data}, max: 4}).model())
	})
}

// FuzzLine: no line makes matching, help or completion panic, in any mode,
// and a line that matches formats to a line that matches the same way.
func FuzzLine(f *testing.F) {
	for _, c := range stmtCases {
		for _, l := range c.lines {
			f.Add(l)
		}
	}
	for _, c := range errCases {
		for _, l := range c.lines {
			f.Add(l)
		}
	}
	g := DefaultGrammar()
	f.Fuzz(func(t *testing.T, line string) {
		toks, err := grammar.Tokenize(line)
		if err != nil {
			return
		}
		for _, m := range Modes {
			set := g.Set(m)
			if match, err := set.Match(toks); err == nil {
				text := match.Cmd.Format(match.Args)
				t2, err := grammar.Tokenize(text)
				if err != nil {
					t.Fatalf("%s: %q formats as %q, which does not tokenize: %v", m, line, text, err)
				}
				m2, err := set.Match(t2)
				if err != nil {
					t.Fatalf("%s: %q formats as %q, which does not match: %v", m, line, text, err)
				}
				if m2.Cmd != match.Cmd || !reflect.DeepEqual(argMap(m2.Args), argMap(match.Args)) {
					t.Fatalf("%s: %q -> %q matches as %v, not %v", m, line, text, m2.Args, match.Args)
				}
			}
			_, _ = set.MatchPrefix(toks, nil)
			for k := 0; k <= len(toks) && k < 12; k++ {
				_, _ = set.Help(toks[:k], "")
				if k < len(toks) {
					_, _ = set.Help(toks[:k], toks[k].Text)
					_, _, _ = set.Candidates(toks[:k], toks[k].Text)
				}
			}
			ed := NewEditor(g, &Config{})
			_, _ = ed.Apply(toks)
		}
	})
}

func argMap(a grammar.Args) map[string]string {
	m := map[string]string{}
	for _, x := range a {
		m[x.Name] = x.Value
	}
	return m
}

func errorsAs(err error, target **SyntaxError) bool {
	se, ok := err.(*SyntaxError)
	if ok {
		*target = se
	}
	return ok
}
