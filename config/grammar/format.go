package grammar

import "sync/atomic"

// Format renders a command from its arguments, walking its syntax: values
// are substituted (quoted when needed), optional parts appear when any of
// their keywords or values are in args, `{…}` parts in declared order.
func (c *Command) Format(args Args) string {
	var buf [128]byte
	return string(c.AppendFormat(buf[:0], args))
}

// AppendFormat appends Format(args) to dst.
//
// It is on the path of rendering a whole configuration, a line per call,
// so it does as little as it can per call. The names of the syntax are
// numbered (the bits of assignBits, listed in c.names), and each argument's
// name is looked up once, giving the set of names present. What the walk
// of the syntax prints depends on that set alone, so the list of keywords
// and values it prints is worked out once per set and kept (plans): the
// call then only copies words, separated by blanks (the walk puts a blank
// before every word but the first, and every word prints as at least one
// byte: keywords are not empty, and an empty value prints as ""). A command with more than 64 names, or a call
// with more than 256 arguments, takes the plain walk (formatNode), which
// gives the same text.
func (c *Command) AppendFormat(dst []byte, args Args) []byte {
	if !c.fastFormat || len(args) > 256 {
		dst, _ = formatNode(dst, len(dst), c.root, args)
		return dst
	}
	var have uint64
	var at [64]uint8 // args[at[k]] is the argument named c.names[k]
	if names := c.names; len(names) > 0 {
		// Arguments usually come in the order of the syntax: start each
		// search where the previous one ended.
		j := 0
		for i := range args {
			name := args[i].Name
			k := j
			for names[k] != name {
				if k++; k == len(names) {
					k = 0
				}
				if k == j {
					k = -1
					break
				}
			}
			if k < 0 {
				continue // not a name of this command: never looked up
			}
			if have&(1<<k) == 0 { // Args.Get finds the first
				have |= 1 << k
				at[k] = uint8(i)
			}
			if j = k + 1; j == len(names) {
				j = 0
			}
		}
	}
	for i, w := range c.plan(have) {
		if i > 0 {
			dst = append(dst, ' ')
		}
		if w.bit < 0 {
			dst = append(dst, w.word...)
		} else {
			dst = AppendQuote(dst, args[at[w.bit]].Value)
		}
	}
	return dst
}

// planWord is a keyword (bit < 0) or the value of the name of bit.
type planWord struct {
	word string
	bit  int
}

// formatPlan is what AppendFormat prints when the names of have are
// present.
type formatPlan struct {
	have  uint64
	words []planWord
}

// planCache holds the plans of a command, read without a lock by the
// goroutines that format with it; a new plan replaces the list.
type planCache struct{ list atomic.Pointer[[]formatPlan] }

// maxPlans bounds the plans a command keeps; a command seldom has more
// than a few dozen combinations of optional parts in use.
const maxPlans = 64

// plan returns the words that the walk of the syntax prints when the names
// of have are present.
func (c *Command) plan(have uint64) []planWord {
	find := func(plans *[]formatPlan) ([]planWord, bool) {
		if plans != nil {
			for i := range *plans {
				if p := &(*plans)[i]; p.have == have {
					return p.words, true
				}
			}
		}
		return nil, false
	}
	plans := c.plans.list.Load()
	if words, ok := find(plans); ok {
		return words
	}
	var words []planWord
	planNode(c.root, have, &words)
	for plans == nil || len(*plans) < maxPlans {
		var next []formatPlan
		if plans != nil {
			next = append(next, *plans...)
		}
		next = append(next, formatPlan{have: have, words: words})
		if c.plans.list.CompareAndSwap(plans, &next) {
			break
		}
		plans = c.plans.list.Load()
		if w, ok := find(plans); ok {
			return w
		}
	}
	return words
}

// planNode is formatNode listing words instead of printing them, with
// presence read from have (a node is present when any of the bits of its
// pmask is set).
func planNode(n *node, have uint64, words *[]planWord) bool {
	switch n.kind {
	case nKeyword:
		*words = append(*words, planWord{word: n.word, bit: -1})
		return true
	case nValue:
		if have&(1<<n.bit) == 0 {
			return false
		}
		*words = append(*words, planWord{bit: n.bit})
		return true
	case nSeq:
		mark := len(*words)
		for _, k := range n.kids {
			if !planNode(k, have, words) {
				*words = (*words)[:mark]
				return false
			}
		}
		return true
	case nOpt:
		if k := n.kids[0]; k.pmask&have != 0 {
			planNode(k, have, words)
		}
		return true
	case nAlt:
		for _, k := range n.kids {
			if k.pmask&have != 0 && planNode(k, have, words) {
				return true
			}
		}
		return false
	case nAny:
		for _, k := range n.kids {
			if k.pmask&have != 0 {
				planNode(k, have, words)
			}
		}
		return true
	}
	return false
}

// prepareFormat lists the names of c in the order of their bits and gives
// every node the bits that make it present (see present), for the plans of
// AppendFormat. It runs after assignBits.
func prepareFormat(c *Command) {
	bit := map[string]int{}
	c.fastFormat = true
	c.plans = &planCache{}
	walk(c.root, func(n *node) {
		if n.kind == nKeyword || n.kind == nValue {
			bit[n.word] = n.bit
			if n.bit < 0 {
				c.fastFormat = false
			}
		}
	})
	c.names = nil
	if !c.fastFormat {
		return
	}
	c.names = make([]string, len(bit))
	for name, b := range bit {
		c.names[b] = name
	}
	walk(c.root, func(n *node) {
		names := n.vals
		if len(names) == 0 {
			names = n.kws
		}
		n.pmask = 0
		for _, name := range names {
			n.pmask |= 1 << bit[name]
		}
	})
}

// formatNode is the plain walk of the syntax, searching args as it goes:
// it appends the text of n to buf, whose command text begins at start,
// and reports whether n could be printed (a value is missing otherwise).
func formatNode(buf []byte, start int, n *node, args Args) ([]byte, bool) {
	word := func(w string, quote bool) []byte {
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		if quote {
			return AppendQuote(buf, w)
		}
		return append(buf, w...)
	}
	switch n.kind {
	case nKeyword:
		return word(n.word, false), true
	case nValue:
		v, ok := args.Get(n.word)
		if !ok {
			return buf, false
		}
		return word(v, true), true
	case nSeq:
		mark := len(buf)
		for _, k := range n.kids {
			var ok bool
			if buf, ok = formatNode(buf, start, k, args); !ok {
				return buf[:mark], false
			}
		}
		return buf, true
	case nOpt:
		if present(n.kids[0], args) {
			buf, _ = formatNode(buf, start, n.kids[0], args)
		}
		return buf, true
	case nAlt:
		for _, k := range n.kids {
			if present(k, args) {
				var ok bool
				if buf, ok = formatNode(buf, start, k, args); ok {
					return buf, true
				}
			}
		}
		return buf, false
	case nAny:
		for _, k := range n.kids {
			if present(k, args) {
				buf, _ = formatNode(buf, start, k, args)
			}
		}
		return buf, true
	}
	return buf, false
}

// present reports whether any value of n is in args, or, for a part made
// of keywords only, whether any of its keywords is.
func present(n *node, args Args) bool {
	names := n.vals
	if len(names) == 0 {
		names = n.kws
	}
	for _, name := range names {
		if args.Has(name) {
			return true
		}
	}
	return false
}
