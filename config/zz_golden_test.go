package config

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

func mutate(r *rand.Rand, line string) string {
	toks := strings.Fields(line)
	if len(toks) == 0 {
		return line
	}
	i := r.IntN(len(toks))
	switch r.IntN(6) {
	case 0:
		toks = append(toks[:i], toks[i+1:]...)
	case 1:
		if len(toks[i]) > 1 {
			toks[i] = toks[i][:1+r.IntN(len(toks[i])-1)]
		}
	case 2:
		toks[i] = strings.ToUpper(toks[i])
	case 3:
		toks = toks[:i]
	case 4:
		toks[i] = toks[i] + "x"
	case 5:
		j := r.IntN(len(toks))
		toks[i], toks[j] = toks[j], toks[i]
	}
	return strings.Join(toks, " ")
}

func TestZZGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var out strings.Builder
	g := DefaultGrammar()
	for k := 0; k < 400; k++ {
		gg := &gen{e: randEntropy{r}, max: 4}
		src := Render(gg.model())
		lines := strings.Split(src, "\n")
		for m := 0; m < 20; m++ {
			ls := append([]string(nil), lines...)
			j := r.IntN(len(ls))
			ls[j] = mutate(r, ls[j])
			s := strings.Join(ls, "\n")
			cfg, err := Parse([]byte(s), "f")
			if err != nil {
				fmt.Fprintf(&out, "E %v\n", err)
			} else {
				fmt.Fprintf(&out, "OK %q\n", Render(cfg))
			}
		}
		mode := ModeConfig
		for _, ln := range lines {
			if ln == "" || ln == "!" {
				mode = ModeConfig
				continue
			}
			m := ModeConfig
			if strings.HasPrefix(ln, " ") {
				m = mode
			}
			toks, _ := grammar.Tokenize(ln)
			for n := 0; n <= len(toks); n++ {
				h, err := g.Set(m).Help(toks[:n], "")
				fmt.Fprintf(&out, "H %v %v\n", h, err)
				if n < len(toks) {
					p := toks[n].Text[:1]
					h, err = g.Set(m).Help(toks[:n], p)
					fmt.Fprintf(&out, "HP %v %v\n", h, err)
					w, sl, err := g.Set(m).Candidates(toks[:n], p)
					fmt.Fprintf(&out, "C %v %v %v\n", w, sl, err)
				}
			}
			if m == ModeConfig {
				if mt, err := g.Set(m).Match(toks); err == nil {
					if st, ok := mt.Cmd.Data.(*Statement); ok && st.Enter != "" {
						mode = st.Enter
					}
				}
			}
		}
	}
	path := "/tmp/probe/golden.txt"
	if old, err := os.ReadFile(path); err == nil {
		if string(old) != out.String() {
			os.WriteFile(path+".new", []byte(out.String()), 0o644)
			t.Fatal("golden differs")
		}
		return
	}
	os.WriteFile(path, []byte(out.String()), 0o644)
}
