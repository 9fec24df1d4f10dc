package grammar

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Command is one declared statement or command.
type Command struct {
	Syntax string
	// Help maps each keyword, and each value name, of the syntax to its help
	// text. Keywords shared by many commands ("ip", "no") may take their help
	// from the Set's common help instead.
	Help   map[string]string
	Hidden bool // matched, but never offered by `?`, Tab or the docs
	// Data is the caller's payload (what to do when the command matches).
	Data any

	root  *node
	entry *state
	first []string // possible first keywords, for dispatch
	set   *Set
	index int // position in set.cmds: the earlier declared wins

	names      []string // the names of the syntax by bit, for AppendFormat
	fastFormat bool     // AppendFormat may use names (at most 64 of them)
	plans      *planCache
}

// Arg is one captured keyword or value.
type Arg struct{ Name, Value string }

// Args are the captures of a match, in input order.
type Args []Arg

// Get returns the value captured under name.
func (a Args) Get(name string) (string, bool) {
	for _, x := range a {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// Str returns the value captured under name, or "".
func (a Args) Str(name string) string { v, _ := a.Get(name); return v }

// Has reports whether name was captured.
func (a Args) Has(name string) bool { _, ok := a.Get(name); return ok }

// Int returns the captured number, or 0.
func (a Args) Int(name string) int { v, _ := strconv.Atoi(a.Str(name)); return v }

// Set is the compiled grammar of one mode.
type Set struct {
	cmds     []*Command
	byFirst  map[string][]*Command // first keyword → commands
	anyFirst []*Command            // commands starting with a value
	keywords []string              // sorted distinct first keywords
	common   map[string]string
}

type stateKind uint8

const (
	stTok stateKind = iota
	stSplit
	stAccept
	stLineMore // continues an unquoted LINE value with more words
)

type state struct {
	kind stateKind
	bit  int8 // n.bit, here to save a pointer hop
	n    *node
	out  []*state
	cmd  *Command
	// eps is the epsilon closure of the state: the token, line-more and
	// accept states reachable from it through splits, in depth-first
	// order. Computed once at compile time.
	eps []*state
}

// Compile builds the grammar of one mode. common supplies help for keywords
// that commands leave out of their own Help.
func Compile(cmds []*Command, common map[string]string) (*Set, error) {
	s := &Set{byFirst: map[string][]*Command{}, common: common}
	for _, c := range cmds {
		if err := s.add(c); err != nil {
			return nil, err
		}
	}
	for k := range s.byFirst {
		s.keywords = append(s.keywords, k)
	}
	sort.Strings(s.keywords)
	return s, nil
}

// MustCompile is Compile for grammars declared in code.
func MustCompile(cmds []*Command, common map[string]string) *Set {
	s, err := Compile(cmds, common)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Set) add(c *Command) error {
	root, err := parseSyntax(c.Syntax)
	if err != nil {
		return err
	}
	c.root = root
	c.set = s
	kws, vals := map[string]bool{}, map[string]bool{}
	walk(root, func(n *node) {
		switch n.kind {
		case nKeyword:
			kws[n.word] = true
		case nValue:
			vals[n.word] = true
		}
	})
	for v := range vals {
		if kws[v] {
			return fmt.Errorf("syntax %q: value name %q is also a keyword", c.Syntax, v)
		}
	}
	for w := range kws {
		if c.help(w) == "" {
			return fmt.Errorf("syntax %q: no help for keyword %q", c.Syntax, w)
		}
	}
	for v := range vals {
		if c.help(v) == "" {
			return fmt.Errorf("syntax %q: no help for value %q", c.Syntax, v)
		}
	}
	prepare(root)
	assignBits(root)
	prepareFormat(c)
	accept := &state{kind: stAccept, cmd: c}
	c.entry = compileNode(root, accept, c)
	computeClosures(c.entry)
	c.first = nil
	firstValue := false
	for _, st := range c.entry.eps {
		if st.kind == stTok {
			if st.n.kind == nKeyword {
				c.first = append(c.first, st.n.lword)
			} else {
				firstValue = true
			}
		}
	}
	if firstValue || len(c.first) == 0 {
		s.anyFirst = append(s.anyFirst, c)
	}
	for _, w := range c.first {
		s.byFirst[w] = append(s.byFirst[w], c)
	}
	c.index = len(s.cmds)
	s.cmds = append(s.cmds, c)
	return nil
}

// prepare fills in the derived fields of the syntax tree: lower-case
// spellings for matching, and per node the value and keyword names below
// it, for Format.
func prepare(n *node) {
	for _, k := range n.kids {
		prepare(k)
	}
	switch n.kind {
	case nKeyword:
		n.lword = strings.ToLower(n.word)
		n.kws = []string{n.word}
	case nValue:
		for i := range n.types {
			n.types[i].llit = strings.ToLower(n.types[i].lit)
		}
		n.vals = []string{n.word}
	default:
		for _, k := range n.kids {
			n.vals = append(n.vals, k.vals...)
			n.kws = append(n.kws, k.kws...)
		}
	}
}

// assignBits numbers the distinct names (keywords and values) of a
// command, for thread.used; with more than 64 names, matching falls back to
// searching the captures.
func assignBits(root *node) {
	bits := map[string]int{}
	walk(root, func(n *node) {
		if n.kind == nKeyword || n.kind == nValue {
			if _, ok := bits[n.word]; !ok {
				bits[n.word] = len(bits)
			}
		}
	})
	walk(root, func(n *node) {
		n.bit = bits[n.word]
		if len(bits) > 64 {
			n.bit = -1
		}
	})
}

// computeClosures sets eps on every state reachable from entry.
func computeClosures(entry *state) {
	seen := map[*state]bool{}
	var visit func(*state)
	visit = func(st *state) {
		if seen[st] {
			return
		}
		seen[st] = true
		closure(st, func(x *state) { st.eps = append(st.eps, x) })
		for _, o := range st.out {
			visit(o)
		}
	}
	visit(entry)
}

func (c *Command) help(name string) string {
	if h := c.Help[name]; h != "" {
		return h
	}
	return c.set.common[name]
}

func walk(n *node, f func(*node)) {
	f(n)
	for _, k := range n.kids {
		walk(k, f)
	}
}

func compileNode(n *node, next *state, c *Command) *state {
	switch n.kind {
	case nKeyword:
		return &state{kind: stTok, n: n, bit: int8(n.bit), out: []*state{next}, cmd: c}
	case nValue:
		st := &state{kind: stTok, n: n, bit: int8(n.bit), out: []*state{next}, cmd: c}
		for _, t := range n.types {
			if t.kind == tLine {
				more := &state{kind: stLineMore, n: n, out: []*state{next}, cmd: c}
				more.out = append(more.out, more)
				st.out = append(st.out, more)
			}
		}
		return st
	case nSeq:
		cur := next
		for i := len(n.kids) - 1; i >= 0; i-- {
			cur = compileNode(n.kids[i], cur, c)
		}
		return cur
	case nOpt:
		return &state{kind: stSplit, out: []*state{compileNode(n.kids[0], next, c), next}, cmd: c}
	case nAlt:
		sp := &state{kind: stSplit, cmd: c}
		for _, k := range n.kids {
			sp.out = append(sp.out, compileNode(k, next, c))
		}
		return sp
	case nAny:
		loop := &state{kind: stSplit, cmd: c}
		for _, k := range n.kids {
			loop.out = append(loop.out, compileNode(k, loop, c))
		}
		loop.out = append(loop.out, next)
		return loop
	}
	panic("unreachable")
}

// closure calls f for every token and accept state reachable from st by
// epsilon moves. Matching uses the precomputed state.eps instead.
func closure(st *state, f func(*state)) {
	var seen []*state
	var visit func(*state)
	visit = func(s *state) {
		for _, x := range seen {
			if x == s {
				return
			}
		}
		seen = append(seen, s)
		if s.kind == stSplit {
			for _, o := range s.out {
				visit(o)
			}
			return
		}
		f(s)
	}
	visit(st)
}

type capture struct {
	name, val string
	next      *capture
}

func (c *capture) has(name string) bool {
	for ; c != nil; c = c.next {
		if c.name == name {
			return true
		}
	}
	return false
}

func (c *capture) args() Args { return c.appendArgs(nil) }

// appendArgs appends the captures, in input order, to a.
func (c *capture) appendArgs(a Args) Args {
	n := 0
	for x := c; x != nil; x = x.next {
		n++
	}
	a = slices.Grow(a, n)[:len(a)+n]
	for x, k := c, len(a); x != nil; x = x.next {
		k--
		a[k] = Arg{x.name, x.val}
	}
	return a
}

type thread struct {
	st   *state
	caps *capture
	// used has bit n.bit set for every name captured (see prepare); it
	// answers caps.has without walking the list.
	used uint64
	// quoted is set when the LINE value just taken was quoted: it takes
	// no more words.
	quoted bool
}

// taken reports whether the thread has captured the name of n already.
// taken reports whether the thread, at a token state, has captured the
// state's name already.
func (t *thread) taken() bool {
	if t.st.bit < 0 {
		return t.caps.has(t.st.n.word)
	}
	return t.used&(1<<t.st.bit) != 0
}

// mark is t.used with the name of its token state added.
func (t *thread) mark() uint64 {
	if t.st.bit < 0 {
		return t.used
	}
	return t.used | 1<<t.st.bit
}

// ErrorKind classifies a match failure as IOS does.
type ErrorKind int

const (
	Invalid    ErrorKind = iota // % Invalid input detected at '^' marker.
	Ambiguous                   // % Ambiguous command:  "..."
	Incomplete                  // % Incomplete command.
)

// Error is a failed match: which kind, at which token and column.
type Error struct {
	Kind   ErrorKind
	Token  int    // index of the offending token (Invalid, Ambiguous)
	Col    int    // its column in the line
	Input  string // the line up to and including the offending token
	Reason string // an extra explanation, e.g. a number out of range
}

func (e *Error) Error() string {
	switch e.Kind {
	case Ambiguous:
		return fmt.Sprintf("%% Ambiguous command:  %q", e.Input)
	case Incomplete:
		return "% Incomplete command."
	}
	if e.Reason != "" {
		return "% Invalid input detected at '^' marker. (" + e.Reason + ")"
	}
	return "% Invalid input detected at '^' marker."
}

// Match is a successful match of a command against tokens [0, End).
type Match struct {
	Cmd  *Command
	Args Args
	End  int
}

// matcher is the scratch space of one match: the live threads, a buffer
// for the next ones, and a slab the captures are cut from. Matchers are
// pooled, so that matching a line allocates little more than its result.
type matcher struct {
	ts, spare []thread
	slab      []capture
}

var matchers = sync.Pool{New: func() any { return new(matcher) }}

func getMatcher() *matcher { return matchers.Get().(*matcher) }

// release returns m to the pool. Nothing may use its threads or captures
// afterwards.
func (m *matcher) release() {
	if cap(m.ts)+cap(m.spare) > 1<<14 || cap(m.slab) > 1<<12 {
		return // a pathological line: let the garbage collector have it
	}
	// What the buffers still point at is dropped with the pool's
	// contents at the next garbage collections.
	m.ts, m.spare, m.slab = m.ts[:0], m.spare[:0], m.slab[:0]
	matchers.Put(m)
}

func (m *matcher) capture(name, val string, next *capture) *capture {
	if len(m.slab) == cap(m.slab) {
		// A new chunk; captures in the old one stay where they are.
		m.slab = make([]capture, 0, max(32, 2*cap(m.slab)))
	}
	m.slab = append(m.slab, capture{name: name, val: val, next: next})
	return &m.slab[len(m.slab)-1]
}

// start sets the threads for matching toks: those of the commands whose
// first keyword the first token may be, and of those starting with a value.
func (m *matcher) start(s *Set, toks []Token) {
	ts := m.ts[:0]
	var cands []*Command
	if len(toks) > 0 {
		w := strings.ToLower(toks[0].Text)
		if cs, ok := s.byFirst[w]; ok {
			cands = cs
		} else {
			seen := map[*Command]bool{}
			i := sort.SearchStrings(s.keywords, w)
			for ; i < len(s.keywords) && strings.HasPrefix(s.keywords[i], w); i++ {
				for _, c := range s.byFirst[s.keywords[i]] {
					if !seen[c] {
						seen[c] = true
						cands = append(cands, c)
					}
				}
			}
			// keep declaration order for deterministic preference
			sort.SliceStable(cands, func(a, b int) bool { return cands[a].index < cands[b].index })
		}
		for _, c := range cands {
			for _, st := range c.entry.eps {
				ts = append(ts, thread{st: st})
			}
		}
		cands = s.anyFirst
	} else {
		cands = s.cmds
	}
	for _, c := range cands {
		for _, st := range c.entry.eps {
			ts = append(ts, thread{st: st})
		}
	}
	m.ts = ts
}

// step advances the threads over one token. It reports false, and the kind
// of failure, when no thread survives; the threads are then unchanged.
func (m *matcher) step(tok Token) (ok, ambiguous bool, reason string) {
	ts, next := m.ts, m.spare[:0]
	w := strings.ToLower(tok.Text)
	// Words (keywords and enumeration literals) that the token could be:
	// one spelled exactly, or the distinct words it abbreviates (only
	// whether there are 0, 1 or more matters). Words of hidden commands
	// count only when no visible word is abbreviated, so that an old
	// spelling kept for input never makes a documented abbreviation
	// ambiguous ("rou" is router, not also the hidden route).
	exact := false
	var vis, hid prefixes
	if !tok.Quoted {
		for i := range ts {
			t := &ts[i]
			if t.st.kind != stTok || t.taken() {
				continue // a word already used cannot be meant
			}
			p := &vis
			if t.st.cmd.Hidden {
				p = &hid
			}
			n := t.st.n
			if n.kind == nKeyword {
				exact = p.note(n.lword, w) || exact
				continue
			}
			for k := range n.types {
				if n.types[k].kind == tLiteral {
					exact = p.note(n.types[k].llit, w) || exact
				}
			}
		}
	}
	if vis.n == 0 {
		vis = hid
	}
	nPrefix, firstPrefix := vis.n, vis.first
	kwOK := func(lw string) bool {
		if tok.Quoted {
			return false
		}
		if exact {
			return lw == w
		}
		return nPrefix == 1 && lw == firstPrefix
	}
	// A token that is (or uniquely abbreviates) a keyword where one may
	// stand is that keyword, not a name: as in IOS, "permit all tcp" names
	// the protocol, not an interface called tcp.
	kwHit := !tok.Quoted && (exact || nPrefix == 1)
	for i := range ts {
		t := &ts[i]
		switch t.st.kind {
		case stLineMore:
			if t.quoted {
				continue
			}
			c := m.capture(t.caps.name, t.caps.val+" "+tok.Text, t.caps.next)
			for _, o := range t.st.out {
				for _, x := range o.eps {
					next = append(next, thread{st: x, caps: c, used: t.used})
				}
			}
		case stTok:
			n := t.st.n
			if t.taken() {
				continue // each keyword and value at most once
			}
			used := t.mark()
			if n.kind == nKeyword {
				if kwOK(n.lword) {
					c := m.capture(n.word, n.word, t.caps)
					for _, x := range t.st.out[0].eps {
						next = append(next, thread{st: x, caps: c, used: used})
					}
				}
				continue
			}
			for k := range n.types {
				ty := &n.types[k]
				var val string
				var ok bool
				if ty.kind == tLiteral {
					if ok = kwOK(ty.llit); ok {
						val = ty.lit
					}
				} else if kwHit && ty.isName() {
					continue
				} else {
					var why string
					val, ok, why = ty.accept(tok)
					if why != "" && reason == "" {
						reason = why
					}
				}
				if !ok {
					continue
				}
				c := m.capture(n.word, val, t.caps)
				if ty.kind == tLine {
					for _, o := range t.st.out {
						for _, x := range o.eps {
							next = append(next, thread{st: x, caps: c, used: used, quoted: tok.Quoted})
						}
					}
				} else {
					for _, x := range t.st.out[0].eps {
						next = append(next, thread{st: x, caps: c, used: used})
					}
				}
				break
			}
		}
	}
	m.spare = next
	if len(next) == 0 {
		return false, !exact && nPrefix > 1, reason
	}
	m.ts, m.spare = next, ts
	return true, false, reason
}

// prefixes counts the distinct words a token abbreviates: 0, 1 (first)
// or more (2).
type prefixes struct {
	n     int
	first string
}

// note looks at word lw for token w; it reports an exact match.
func (p *prefixes) note(lw, w string) bool {
	if lw == w {
		return true
	}
	if strings.HasPrefix(lw, w) {
		if p.n == 0 {
			p.n, p.first = 1, lw
		} else if lw != p.first {
			p.n = 2
		}
	}
	return false
}

// literals lists the words a token state accepts: its keyword, or the
// literal alternatives of its value.
func literals(n *node) []string {
	if n.kind == nKeyword {
		return []string{n.word}
	}
	var out []string
	for _, t := range n.types {
		if t.kind == tLiteral {
			out = append(out, t.lit)
		}
	}
	return out
}

func (s *Set) fail(toks []Token, i int, ambiguous bool, reason string) *Error {
	input := ""
	if len(toks) > 0 {
		last := toks[i]
		input = strings.TrimSpace(joinTokens(toks[:i+1]))
		_ = last
	}
	if ambiguous {
		return &Error{Kind: Ambiguous, Token: i, Col: toks[i].Col, Input: input}
	}
	return &Error{Kind: Invalid, Token: i, Col: toks[i].Col, Input: input, Reason: reason}
}

func joinTokens(toks []Token) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		if t.Quoted {
			parts[i] = Quote(t.Text)
		} else {
			parts[i] = t.Text
		}
	}
	return strings.Join(parts, " ")
}

// Match matches the whole token list against the set. When several
// commands match, the one declared first wins.
func (s *Set) Match(toks []Token) (*Match, error) {
	r := &Match{}
	if err := s.MatchInto(toks, r); err != nil {
		return nil, err
	}
	return r, nil
}

// MatchInto is Match filling in *r, whose Args slice it reuses: a caller
// matching many lines in turn (a file parser) allocates nothing for the
// result. On error *r is unchanged.
func (s *Set) MatchInto(toks []Token, r *Match) error {
	if len(toks) == 0 {
		return &Error{Kind: Incomplete}
	}
	m := getMatcher()
	defer m.release()
	m.start(s, toks)
	for i, tok := range toks {
		if ok, amb, reason := m.step(tok); !ok {
			return s.fail(toks, i, amb, reason)
		}
	}
	if b := bestThread(m.ts); b != nil {
		r.Cmd, r.Args, r.End = b.st.cmd, b.caps.appendArgs(r.Args[:0]), len(toks)
		return nil
	}
	return &Error{Kind: Incomplete, Token: len(toks), Input: joinTokens(toks)}
}

func best(ts []thread, end int) *Match {
	b := bestThread(ts)
	if b == nil {
		return nil
	}
	return &Match{Cmd: b.st.cmd, Args: b.caps.args(), End: end}
}

// bestThread is the accepting thread of the command declared first.
func bestThread(ts []thread) *thread {
	var b *thread
	for i := range ts {
		t := &ts[i]
		if t.st.kind == stAccept && (b == nil || t.st.cmd.index < b.st.cmd.index) {
			b = t
		}
	}
	return b
}

// MatchPrefix matches the longest leading run of tokens that forms a
// complete command, for lines that chain several statements ("ipsec
// ike-policy 10 authentication psk policy AES SHA 14"). If no prefix
// matches, the error is that of matching the whole list. filter, when set,
// limits the commands considered.
func (s *Set) MatchPrefix(toks []Token, filter func(*Command) bool) (*Match, error) {
	if len(toks) == 0 {
		return nil, &Error{Kind: Incomplete}
	}
	m := getMatcher()
	defer m.release()
	m.start(s, toks)
	var last *Match
	var failure *Error
	for i, tok := range toks {
		if ok, amb, reason := m.step(tok); !ok {
			failure = s.fail(toks, i, amb, reason)
			break
		}
		if r := bestFiltered(m.ts, i+1, filter); r != nil {
			last = r
		}
	}
	if last != nil {
		return last, nil
	}
	if failure != nil {
		return nil, failure
	}
	return nil, &Error{Kind: Incomplete, Token: len(toks), Input: joinTokens(toks)}
}

func bestFiltered(ts []thread, end int, filter func(*Command) bool) *Match {
	if filter == nil {
		return best(ts, end)
	}
	var keep []thread
	for _, t := range ts {
		if t.st.kind == stAccept && filter(t.st.cmd) {
			keep = append(keep, t)
		}
	}
	return best(keep, end)
}

// HelpItem is one line of `?` output.
type HelpItem struct {
	Word string // keyword, literal, value placeholder, or "<cr>"
	Help string
}

// Help lists what may follow the complete tokens toks (IOS `word ?`). With
// partial != "", it lists the keywords that start with partial (IOS
// `wo?`). An error means toks themselves do not match.
func (s *Set) Help(toks []Token, partial string) ([]HelpItem, error) {
	m, err := s.advance(toks)
	if err != nil {
		return nil, err
	}
	defer m.release()
	ts := m.ts
	seen := map[string]bool{}
	var items []HelpItem
	addItem := func(w, h string) {
		if !seen[w] {
			seen[w] = true
			items = append(items, HelpItem{w, h})
		}
	}
	cr := false
	lp := strings.ToLower(partial)
	for _, t := range ts {
		if t.st.cmd.Hidden {
			continue
		}
		switch t.st.kind {
		case stAccept:
			cr = true
		case stLineMore:
			if partial == "" && !t.quoted {
				addItem("LINE", t.st.cmd.help(t.st.n.word))
			}
		case stTok:
			n := t.st.n
			if t.taken() {
				continue
			}
			if n.kind == nKeyword {
				if strings.HasPrefix(n.word, lp) {
					addItem(n.word, t.st.cmd.help(n.word))
				}
				continue
			}
			for _, ty := range n.types {
				if ty.kind == tLiteral {
					if strings.HasPrefix(strings.ToLower(ty.lit), lp) {
						h := t.st.cmd.help(n.word + "." + ty.lit)
						if h == "" {
							h = t.st.cmd.help(n.word)
						}
						addItem(ty.lit, h)
					}
				} else if partial == "" {
					addItem(ty.display(), t.st.cmd.help(n.word))
				}
			}
		}
	}
	sort.SliceStable(items, func(a, b int) bool {
		pa, pb := isPlaceholder(items[a].Word), isPlaceholder(items[b].Word)
		if pa != pb {
			return !pa
		}
		return strings.ToLower(items[a].Word) < strings.ToLower(items[b].Word)
	})
	if cr && partial == "" {
		items = append(items, HelpItem{"<cr>", ""})
	}
	return items, nil
}

func isPlaceholder(w string) bool {
	return w == "LINE" || w == "WORD" || w == "IFNAME" || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "A.B.C.D") || strings.HasPrefix(w, "PORT")
}

// Slot describes a value the user may type next, for live completion.
type Slot struct {
	Name string // the value's name in the syntax
	Type string // its type as displayed: IFNAME, A.B.C.D, WORD, …
}

// Candidates lists the completions of partial after toks: keywords and
// literals that start with partial, and the value slots open there (the
// caller adds live values for them).
func (s *Set) Candidates(toks []Token, partial string) (words []string, slots []Slot, err error) {
	m, err := s.advance(toks)
	if err != nil {
		return nil, nil, err
	}
	defer m.release()
	ts := m.ts
	seen := map[string]bool{}
	lp := strings.ToLower(partial)
	for _, t := range ts {
		if t.st.kind != stTok || t.st.cmd.Hidden {
			continue
		}
		n := t.st.n
		if t.taken() {
			continue
		}
		for _, w := range literals(n) {
			if strings.HasPrefix(strings.ToLower(w), lp) && !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
		if n.kind == nValue {
			for _, ty := range n.types {
				if ty.kind != tLiteral && !seen["\x00"+n.word] {
					seen["\x00"+n.word] = true
					slots = append(slots, Slot{Name: n.word, Type: ty.display()})
				}
			}
		}
	}
	sort.Strings(words)
	return words, slots, nil
}

// advance matches toks and returns the matcher holding the live threads;
// the caller releases it.
func (s *Set) advance(toks []Token) (*matcher, error) {
	m := getMatcher()
	m.start(s, toks)
	for i, tok := range toks {
		if ok, amb, reason := m.step(tok); !ok {
			m.release()
			return nil, s.fail(toks, i, amb, reason)
		}
	}
	return m, nil
}

// Commands returns the commands of the set in declaration order.
func (s *Set) Commands() []*Command { return s.cmds }

// Tokens lists the keywords and values of the syntax with their help, in
// order, for documentation.
func (c *Command) Tokens() []HelpItem {
	var items []HelpItem
	seen := map[string]bool{}
	walk(c.root, func(n *node) {
		switch n.kind {
		case nKeyword:
			if !seen[n.word] {
				seen[n.word] = true
				items = append(items, HelpItem{n.word, c.help(n.word)})
			}
		case nValue:
			if !seen["<"+n.word] {
				seen["<"+n.word] = true
				var ts []string
				for _, t := range n.types {
					ts = append(ts, t.display())
				}
				items = append(items, HelpItem{strings.Join(ts, "|"), c.help(n.word)})
			}
		}
	})
	return items
}
