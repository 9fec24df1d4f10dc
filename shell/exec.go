package shell

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"mboxsh/config"
	"mboxsh/config/grammar"
	"mboxsh/shell/modes"
)

// Output collects what a command prints: text, and optionally the same
// information as structured data for `| json`.
type Output struct {
	bytes.Buffer
	Data any // set by commands that have structured output
	// Styled output may carry SGR attributes (bold headers): only for an
	// interactive session on a terminal that is not TERM=dumb.
	Styled bool
	// Raw output bypasses filters (e.g. interactive prompts).
	w io.Writer
}

// LineError is a failed line: the message and, for syntax errors, the
// column of the offending character (for the caret).
type LineError struct {
	Msg string
	Col int // -1 when there is no caret
}

func (e *LineError) Error() string { return e.Msg }

func lineErr(err error, toks []grammar.Token, offset int) *LineError {
	var le *LineError
	if errors.As(err, &le) {
		return le
	}
	var ge *grammar.Error
	if errors.As(err, &ge) {
		col := -1
		if ge.Kind == grammar.Invalid {
			col = ge.Col + offset
		}
		return &LineError{Msg: ge.Error(), Col: col}
	}
	var ue *config.UserError
	if errors.As(err, &ue) {
		return &LineError{Msg: ue.Msg, Col: -1}
	}
	var te *grammar.TokenizeError
	if errors.As(err, &te) {
		return &LineError{Msg: "% Invalid input detected at '^' marker. (unterminated quote)", Col: te.Col + offset}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "%") {
		msg = "% " + msg
	}
	return &LineError{Msg: msg, Col: -1}
}

// filter is one `| …` output modifier.
type filter struct {
	kind string // include, exclude, begin, section, count, json
	re   *regexp.Regexp
}

// filterKinds are the output modifiers with their `?` help (IOS wording).
var filterKinds = []grammar.HelpItem{
	{Word: "begin", Help: "Begin with the line that matches"},
	{Word: "count", Help: "Count number of lines which match regexp"},
	{Word: "exclude", Help: "Exclude lines that match"},
	{Word: "include", Help: "Include lines that match"},
	{Word: "json", Help: "Structured output (JSON)"},
	{Word: "section", Help: "Filter a section of output"},
}

// filterRE reports whether a filter takes a regular expression: always
// (include, exclude, begin, section), optionally (count) or never (json).
func filterRE(kind string) (takes, required bool) {
	switch kind {
	case "json":
		return false, false
	case "count":
		return true, false
	}
	return true, true
}

func isPipe(t grammar.Token) bool { return t.Text == "|" && !t.Quoted }

// splitPipe separates `cmd | filter …` at the first unquoted `|` token.
// As on IOS, a filter's regular expression is the rest of its part of the
// line (`| include ip route`); quote it to keep blanks exactly.
func splitPipe(toks []grammar.Token) (cmd []grammar.Token, filters []filter, err *LineError) {
	start := slices.IndexFunc(toks, isPipe)
	if start < 0 {
		return toks, nil, nil
	}
	cmd = toks[:start]
	rest := toks[start:]
	for len(rest) > 0 {
		// rest[0] is a `|`.
		if len(rest) < 2 || isPipe(rest[1]) {
			return nil, nil, &LineError{Msg: "% Incomplete command.", Col: -1}
		}
		kw := strings.ToLower(rest[1].Text)
		var hits []string
		for _, k := range filterKinds {
			if strings.HasPrefix(k.Word, kw) {
				hits = append(hits, k.Word)
			}
		}
		if len(hits) > 1 {
			return nil, nil, &LineError{Msg: fmt.Sprintf("%% Ambiguous command:  %q", kw), Col: -1}
		}
		if len(hits) == 0 {
			return nil, nil, &LineError{Msg: "% Invalid input detected at '^' marker.", Col: rest[1].Col}
		}
		f := filter{kind: hits[0]}
		if f.kind == "json" && len(filters) > 0 {
			// json formats the command's data, not the text the filters
			// before it produced: it must come first.
			return nil, nil, &LineError{Msg: "% Invalid input detected at '^' marker. (`| json` must be the first output modifier)", Col: rest[1].Col}
		}
		end := 2 + slices.IndexFunc(rest[2:], isPipe)
		if end < 2 {
			end = len(rest)
		}
		args := rest[2:end]
		takes, required := filterRE(f.kind)
		switch {
		case len(args) == 0 && required:
			return nil, nil, &LineError{Msg: "% Incomplete command.", Col: -1}
		case len(args) > 0 && !takes:
			return nil, nil, &LineError{Msg: "% Invalid input detected at '^' marker.", Col: args[0].Col}
		case len(args) > 0:
			words := make([]string, len(args))
			for i, a := range args {
				words[i] = a.Text
			}
			re, rerr := regexp.Compile(strings.Join(words, " "))
			if rerr != nil {
				return nil, nil, &LineError{Msg: "% Invalid regular expression: " + rerr.Error(), Col: args[0].Col}
			}
			f.re = re
		}
		filters = append(filters, f)
		rest = rest[end:]
	}
	return cmd, filters, nil
}

// applyFilters runs the output through the filters, in order.
func applyFilters(out *Output, filters []filter) (string, error) {
	text := out.String()
	for _, f := range filters {
		switch f.kind {
		case "json":
			var v any = out.Data
			if v == nil {
				return "", errors.New("% This command has no structured output")
			}
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return "", err
			}
			text = string(b) + "\n"
			continue
		case "count":
			n := 0
			for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				if l != "" && (f.re == nil || f.re.MatchString(l)) {
					n++
				}
			}
			text = "Number of lines which match regexp = " + strconv.Itoa(n) + "\n"
			continue
		}
		lines := strings.SplitAfter(text, "\n")
		var b strings.Builder
		switch f.kind {
		case "include", "exclude":
			for _, l := range lines {
				if l == "" {
					continue
				}
				if f.re.MatchString(strings.TrimSuffix(l, "\n")) == (f.kind == "include") {
					b.WriteString(l)
				}
			}
		case "begin":
			on := false
			for _, l := range lines {
				if !on && f.re.MatchString(strings.TrimSuffix(l, "\n")) {
					on = true
				}
				if on {
					b.WriteString(l)
				}
			}
		case "section":
			// A section is a top-level line and the indented lines below it.
			in := false
			for _, l := range lines {
				if l == "" {
					continue
				}
				top := l[0] != ' ' && l[0] != '\t'
				if top {
					in = f.re.MatchString(strings.TrimSuffix(l, "\n"))
				} else if !in && f.re.MatchString(strings.TrimSuffix(l, "\n")) {
					b.WriteString(l)
					continue
				}
				if in {
					b.WriteString(l)
				}
			}
		}
		text = b.String()
	}
	return text, nil
}

// Exec runs one line as typed. Output goes to w (after filters); the error,
// if any, is a *LineError whose Col (when >= 0) is the column of the caret
// within line.
func (s *Session) Exec(line string, w io.Writer) error {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return nil
	}
	if trimmed[0] == '!' || trimmed[0] == '#' {
		if !s.Interactive && s.Level == modes.Configure {
			s.Ed.Exit() // in a file, `!` closes the block
		}
		return nil
	}
	toks, err := grammar.Tokenize(line)
	if err != nil {
		return lineErr(err, nil, 0)
	}
	cmd, filters, le := splitPipe(toks)
	if le != nil {
		return le
	}
	out := &Output{w: w, Styled: s.Interactive && s.Styled}
	if err := s.run(cmd, out); err != nil {
		// Output printed before the error still shows.
		if out.Len() > 0 {
			_, _ = w.Write(out.Bytes())
		}
		return lineErr(err, cmd, 0)
	}
	if len(filters) == 0 {
		_, err := w.Write(out.Bytes())
		return err
	}
	text, ferr := applyFilters(out, filters)
	if ferr != nil {
		return lineErr(ferr, nil, 0)
	}
	_, err = io.WriteString(w, text)
	return err
}

// run executes a tokenised command at the session's current place.
func (s *Session) run(toks []grammar.Token, out *Output) error {
	if s.Level != modes.Configure {
		m, err := s.set().Match(toks)
		if err != nil {
			return err
		}
		return m.Cmd.Data.(*Command).Run(s, m.Args, out)
	}
	if len(toks) > 1 && isDo(toks[0].Text) {
		// `do CMD`: match CMD's own tokens, so that a caret points into
		// the line as typed.
		return s.runExec(toks[1:], out)
	}
	s.Grammar() // sets s.Ed.G
	ext, err := s.Ed.Apply(toks)
	if err != nil {
		return err
	}
	if ext != nil {
		return ext.Cmd.Data.(*Command).Run(s, ext.Args, out)
	}
	s.markEdited()
	return nil
}

// RunExec runs an exec-level command from configuration mode (`do`).
func (s *Session) RunExec(line string, out *Output) error {
	toks, err := grammar.Tokenize(line)
	if err != nil {
		return err
	}
	return s.runExec(toks, out)
}

func (s *Session) runExec(toks []grammar.Token, out *Output) error {
	m, err := s.exec.Match(toks)
	if err != nil {
		return err
	}
	saved := s.Level
	s.Level = modes.Privileged
	defer func() {
		if s.Level == modes.Privileged {
			s.Level = saved
		}
	}()
	return m.Cmd.Data.(*Command).Run(s, m.Args, out)
}

// Help answers `?` for the line typed so far, IOS style: `word ?` lists
// what may follow with help, `wo?` lists the keywords starting with wo.
func (s *Session) Help(line string) (string, error) {
	toks, err := grammar.Tokenize(line)
	if err != nil {
		return "", lineErr(err, nil, 0)
	}
	partial := ""
	if len(toks) > 0 && !strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\t") {
		partial = toks[len(toks)-1].Text
		toks = toks[:len(toks)-1]
	}
	set := s.set()
	if s.Level == modes.Configure && len(toks) > 0 && isDo(toks[0].Text) {
		set, toks = s.exec, toks[1:]
	}
	var items []grammar.HelpItem
	if i := slices.IndexFunc(toks, isPipe); i >= 0 {
		items, err = pipeHelp(set, toks[:i], toks[i:], partial)
	} else {
		items, err = set.Help(toks, partial)
		if err != nil && s.Level == modes.Configure {
			// IOS looks in the enclosing mode too.
			if items2, err2 := s.Grammar().Set(config.ModeConfig).Help(toks, partial); err2 == nil {
				items, err = items2, nil
			}
		}
		if err == nil && partial == "" && len(items) > 0 && items[len(items)-1].Word == "<cr>" && pipeable(set, toks) {
			items = slices.Insert(items, len(items)-1, grammar.HelpItem{Word: "|", Help: "Output modifiers"})
		}
	}
	if err != nil {
		return "", lineErr(err, toks, 0)
	}
	if len(items) == 0 {
		return "", &LineError{Msg: "% Unrecognized command", Col: -1}
	}
	var b strings.Builder
	if partial != "" {
		for i, it := range items {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(it.Word)
		}
		b.WriteString("\n")
		return b.String(), nil
	}
	width := 0
	for _, it := range items {
		width = max(width, len(it.Word))
	}
	for _, it := range items {
		if it.Help == "" {
			fmt.Fprintf(&b, "  %s\n", it.Word)
			continue
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, it.Word, it.Help)
	}
	return b.String(), nil
}

func isDo(w string) bool { return strings.EqualFold(w, "do") }

// pipeable reports whether toks are a complete command whose output the
// `| …` modifiers filter: the show commands.
func pipeable(set *grammar.Set, toks []grammar.Token) bool {
	m, err := set.Match(toks)
	if err != nil {
		return false
	}
	c, ok := m.Cmd.Data.(*Command)
	return ok && (strings.HasPrefix(c.Syntax, "show ") || c.Syntax == "write terminal")
}

// pipeHelp answers `?` after a `|`: the modifiers, then what each takes.
func pipeHelp(set *grammar.Set, cmd, pipes []grammar.Token, partial string) ([]grammar.HelpItem, error) {
	if _, err := set.Match(cmd); err != nil {
		return nil, err
	}
	if !pipeable(set, cmd) {
		return nil, &grammar.Error{Kind: grammar.Invalid, Col: pipes[0].Col}
	}
	j := len(pipes) - 1
	for !isPipe(pipes[j]) {
		j--
	}
	last := pipes[j:] // the last `| modifier …`
	after := last[1:]
	if len(after) == 0 {
		var items []grammar.HelpItem
		for _, k := range filterKinds {
			if strings.HasPrefix(k.Word, strings.ToLower(partial)) {
				items = append(items, k)
			}
		}
		return items, nil
	}
	// Validate everything before the last modifier.
	if _, _, le := splitPipe(append(append([]grammar.Token{}, cmd...), pipes[:len(pipes)-len(last)]...)); le != nil {
		return nil, le
	}
	kind := ""
	for _, k := range filterKinds {
		if strings.HasPrefix(k.Word, strings.ToLower(after[0].Text)) {
			if kind != "" {
				return nil, &LineError{Msg: fmt.Sprintf("%% Ambiguous command:  %q", after[0].Text), Col: -1}
			}
			kind = k.Word
		}
	}
	if kind == "" {
		return nil, &LineError{Msg: "% Invalid input detected at '^' marker.", Col: after[0].Col}
	}
	takes, required := filterRE(kind)
	if !takes && len(after) > 1 {
		return nil, &LineError{Msg: "% Invalid input detected at '^' marker.", Col: after[1].Col}
	}
	if !takes && partial != "" {
		return nil, nil // nothing starts with partial
	}
	var items []grammar.HelpItem
	if takes && partial == "" {
		items = append(items, grammar.HelpItem{Word: "LINE", Help: "Regular expression"})
	}
	if !takes || !required || len(after) > 1 || partial != "" {
		items = append(items, grammar.HelpItem{Word: "|", Help: "Output modifiers"}, grammar.HelpItem{Word: "<cr>"})
	}
	return items, nil
}

// Complete answers Tab: the line extended by the longest unambiguous
// completion, and the candidates when there are several.
func (s *Session) Complete(line string) (string, []string) {
	toks, err := grammar.Tokenize(line)
	if err != nil {
		return line, nil
	}
	partial := ""
	if len(toks) > 0 && !strings.HasSuffix(line, " ") {
		partial = toks[len(toks)-1].Text
		toks = toks[:len(toks)-1]
	}
	set := s.set()
	all := toks
	if s.Level == modes.Configure && len(toks) > 0 && isDo(toks[0].Text) {
		set, toks = s.exec, toks[1:]
	}
	if i := slices.IndexFunc(toks, isPipe); i >= 0 {
		// Only the modifier keyword right after a `|` completes.
		if !isPipe(toks[len(toks)-1]) {
			return line, nil
		}
		var words []string
		for _, k := range filterKinds {
			if strings.HasPrefix(k.Word, strings.ToLower(partial)) {
				words = append(words, k.Word)
			}
		}
		return completeWith(line, partial, words)
	}
	words, slots, err := set.Candidates(toks, partial)
	if err != nil && s.Level == modes.Configure {
		words, slots, err = s.Grammar().Set(config.ModeConfig).Candidates(toks, partial)
	}
	if err != nil {
		return line, nil
	}
	for _, sl := range slots {
		for _, v := range s.liveValues(sl, all) {
			if strings.HasPrefix(v, partial) {
				words = append(words, v)
			}
		}
	}
	return completeWith(line, partial, dedupe(words))
}

// completeWith replaces partial at the end of line by the longest common
// prefix of words (the whole word and a blank when there is one).
func completeWith(line, partial string, words []string) (string, []string) {
	if len(words) == 0 {
		return line, nil
	}
	prefix := words[0]
	for _, w := range words[1:] {
		for !strings.HasPrefix(strings.ToLower(w), strings.ToLower(prefix)) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	base := line[:len(line)-len(partial)]
	if len(words) == 1 {
		return base + words[0] + " ", nil
	}
	if len(prefix) > len(partial) {
		return base + prefix, words
	}
	return line, words
}

func dedupe(ws []string) []string {
	seen := map[string]bool{}
	out := ws[:0]
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// liveValues lists values for an open slot: interfaces, peers, policy and
// rule numbers from the candidate.
func (s *Session) liveValues(sl grammar.Slot, toks []grammar.Token) []string {
	var out []string
	switch sl.Type {
	case "IFNAME":
		for _, i := range s.Cand.Interfaces {
			if i.Kind != config.KindVLAN && i.Kind != config.KindBridge || sl.Name != "ifname" {
				out = append(out, i.Name)
			}
		}
		if s.SystemInterfaces != nil {
			out = append(out, s.SystemInterfaces()...)
		}
	}
	switch sl.Name {
	case "pname", "peer":
		for _, p := range s.Cand.Peers {
			out = append(out, p.Name)
		}
	case "ikenum":
		for _, p := range s.Cand.IKEPolicies {
			out = append(out, strconv.Itoa(p.Number))
		}
	case "espnum":
		for _, p := range s.Cand.ESPPolicies {
			out = append(out, strconv.Itoa(p.Number))
		}
	case "num":
		// A rule number (firewall-access 10 …) or a policy number
		// (ipsec ike-policy 10, ipsec esp-policy 10), `no` or not.
		words := toks
		if len(words) > 0 && strings.EqualFold(words[0].Text, "no") {
			words = words[1:]
		}
		if len(words) == 0 || words[0].Text == "" {
			break
		}
		kw := strings.ToLower(words[0].Text)
		for _, ch := range []config.Chain{config.ChainInput, config.ChainAccess, config.ChainSNAT, config.ChainDNAT} {
			if strings.HasPrefix(ch.Keyword(), kw) {
				for _, r := range *s.Cand.Rules(ch) {
					out = append(out, strconv.Itoa(r.Number))
				}
			}
		}
		if strings.HasPrefix("ipsec", kw) && len(words) > 1 && words[1].Text != "" {
			sub := strings.ToLower(words[1].Text)
			if strings.HasPrefix("ike-policy", sub) {
				for _, p := range s.Cand.IKEPolicies {
					out = append(out, strconv.Itoa(p.Number))
				}
			}
			if strings.HasPrefix("esp-policy", sub) {
				for _, p := range s.Cand.ESPPolicies {
					out = append(out, strconv.Itoa(p.Number))
				}
			}
		}
	}
	return out
}
