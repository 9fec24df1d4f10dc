package grammar

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The syntax language, one string per statement:
//
//	word            a keyword; matched by any unique prefix, case-insensitively
//	<name:TYPE>     a value named name; TYPE is one or more alternatives
//	                separated by '|': A.B.C.D, A.B.C.D/M, IFNAME, IFWILD, WORD,
//	                TEXT, LINE, ADDRLIST, PORTLIST, a range lo-hi, or a literal
//	                word (an enumeration: <enc:AES|AES-192|AES-256|3DES>)
//	[ ... ]         optional
//	( a | b )       one of the alternatives
//	{ a | b | c }   any of the alternatives, in any order, each at most once
//
// Every keyword and value is captured in the match under its name (a
// keyword under itself), which is how optional keywords are seen and how a
// statement is rendered back from its arguments.

type nodeKind int

const (
	nKeyword nodeKind = iota
	nValue
	nSeq
	nOpt
	nAlt
	nAny
)

type node struct {
	kind  nodeKind
	word  string  // keyword, or value name
	types []vtype // value alternatives
	kids  []*node

	lword string   // keyword in lower case
	bit   int      // the name's bit in thread.used, or -1
	vals  []string // names of the values in this subtree
	kws   []string // keywords in this subtree
	pmask uint64   // bits of the names that make the node present (Format)
}

type vtypeKind int

const (
	tIPv4 vtypeKind = iota
	tPrefix
	tIfName
	tIfWild
	tWord
	tText
	tLine
	tAddrList
	tPortList
	tRange
	tLiteral
)

type vtype struct {
	kind   vtypeKind
	lo, hi int64
	lit    string
	llit   string // lit in lower case
}

func (t vtype) display() string {
	switch t.kind {
	case tIPv4:
		return "A.B.C.D"
	case tPrefix:
		return "A.B.C.D/M"
	case tIfName:
		return "IFNAME"
	case tIfWild:
		return "IFNAME"
	case tWord:
		return "WORD"
	case tText, tLine:
		return "LINE"
	case tAddrList:
		return "A.B.C.D[/M][,...]"
	case tPortList:
		return "PORT[-PORT][,...]"
	case tRange:
		return fmt.Sprintf("<%d-%d>", t.lo, t.hi)
	}
	return t.lit
}

func parseSyntax(s string) (*node, error) {
	p := &syntaxParser{src: s}
	p.lex()
	n, err := p.seq()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("syntax %q: unexpected %q", s, p.toks[p.pos])
	}
	return n, nil
}

type syntaxParser struct {
	src  string
	toks []string
	pos  int
}

func (p *syntaxParser) lex() {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.IndexByte("[](){}|", c) >= 0:
			p.toks = append(p.toks, string(c))
			i++
		case c == '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				p.toks = append(p.toks, s[i:])
				return
			}
			p.toks = append(p.toks, s[i:i+j+1])
			i += j + 1
		default:
			j := i
			for j < len(s) && strings.IndexByte(" [](){}|<", s[j]) < 0 {
				j++
			}
			p.toks = append(p.toks, s[i:j])
			i = j
		}
	}
}

func (p *syntaxParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *syntaxParser) seq() (*node, error) {
	n := &node{kind: nSeq}
	for {
		t := p.peek()
		switch t {
		case "", "]", ")", "}", "|":
			return n, nil
		case "[", "(", "{":
			p.pos++
			closer := map[string]string{"[": "]", "(": ")", "{": "}"}[t]
			var alts []*node
			for {
				a, err := p.seq()
				if err != nil {
					return nil, err
				}
				alts = append(alts, a)
				if p.peek() == "|" {
					p.pos++
					continue
				}
				break
			}
			if p.peek() != closer {
				return nil, fmt.Errorf("syntax %q: missing %q", p.src, closer)
			}
			p.pos++
			switch t {
			case "[":
				inner := alts[0]
				if len(alts) > 1 {
					inner = &node{kind: nAlt, kids: alts}
				}
				n.kids = append(n.kids, &node{kind: nOpt, kids: []*node{inner}})
			case "(":
				n.kids = append(n.kids, &node{kind: nAlt, kids: alts})
			case "{":
				n.kids = append(n.kids, &node{kind: nAny, kids: alts})
			}
		default:
			p.pos++
			if strings.HasPrefix(t, "<") {
				v, err := parseValue(t)
				if err != nil {
					return nil, fmt.Errorf("syntax %q: %w", p.src, err)
				}
				n.kids = append(n.kids, v)
			} else {
				n.kids = append(n.kids, &node{kind: nKeyword, word: t})
			}
		}
	}
}

func parseValue(t string) (*node, error) {
	body := strings.TrimSuffix(strings.TrimPrefix(t, "<"), ">")
	name, types, ok := strings.Cut(body, ":")
	if !ok || name == "" || types == "" {
		return nil, fmt.Errorf("value %q: want <name:TYPE>", t)
	}
	n := &node{kind: nValue, word: name}
	for _, ty := range strings.Split(types, "|") {
		var vt vtype
		switch ty {
		case "A.B.C.D":
			vt.kind = tIPv4
		case "A.B.C.D/M":
			vt.kind = tPrefix
		case "IFNAME":
			vt.kind = tIfName
		case "IFWILD":
			vt.kind = tIfWild
		case "WORD":
			vt.kind = tWord
		case "TEXT":
			vt.kind = tText
		case "LINE":
			vt.kind = tLine
		case "ADDRLIST":
			vt.kind = tAddrList
		case "PORTLIST":
			vt.kind = tPortList
		default:
			if lo, hi, ok := strings.Cut(ty, "-"); ok && isDigits(lo) && isDigits(hi) {
				vt.kind = tRange
				vt.lo, _ = strconv.ParseInt(lo, 10, 64)
				vt.hi, _ = strconv.ParseInt(hi, 10, 64)
			} else {
				vt.kind = tLiteral
				vt.lit = ty
			}
		}
		n.types = append(n.types, vt)
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// accept reports whether tok is a value of type t; for literals it also
// returns the canonical spelling. reason explains a near miss (a number out
// of range).
func (t vtype) accept(tok Token) (val string, ok bool, reason string) {
	s := tok.Text
	switch t.kind {
	case tIPv4:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return "", false, ""
		}
		// netip accepts only the canonical IPv4 spelling (no leading
		// zeros), so s is already a.String().
		return s, true, ""
	case tPrefix:
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return "", false, ""
		}
		return s, true, "" // canonical, as for A.B.C.D
	case tIfName:
		if !IsIfName(s, false) {
			return "", false, ""
		}
		return s, true, ""
	case tIfWild:
		if !IsIfName(s, true) {
			return "", false, ""
		}
		return s, true, ""
	case tWord:
		// A word is one unquoted token; a '"' inside would make it print
		// quoted, and a quoted token is not a word.
		if tok.Quoted || s == "" || strings.IndexByte(s, '"') >= 0 {
			return "", false, ""
		}
		return s, true, ""
	case tText, tLine:
		return s, true, ""
	case tAddrList:
		if !isAddrList(s) {
			return "", false, ""
		}
		return s, true, ""
	case tPortList:
		if !isPortList(s) {
			return "", false, ""
		}
		return s, true, ""
	case tRange:
		if !isDigits(s) {
			if s != "" && strings.Trim(s, "0123456789") == "" {
				return "", false, fmt.Sprintf("%s is out of range %d-%d", s, t.lo, t.hi)
			}
			return "", false, ""
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		if v < t.lo || v > t.hi {
			return "", false, fmt.Sprintf("%s is out of range %d-%d", s, t.lo, t.hi)
		}
		if s[0] == '0' && len(s) > 1 {
			return strconv.FormatInt(v, 10), true, "" // drop leading zeros
		}
		return s, true, ""
	case tLiteral:
		if strings.EqualFold(s, t.lit) {
			return t.lit, true, ""
		}
	}
	return "", false, ""
}

// isName reports whether the type is a name that a keyword at the same
// place takes precedence over.
func (t vtype) isName() bool {
	return t.kind == tIfName || t.kind == tIfWild || t.kind == tWord
}

// IsIfName reports whether s is a Linux interface name usable in mboxsh
// statements: a letter, then letters, digits, '.', '-' or '_', at most 15
// bytes; with wild, a trailing '+' (prefix wildcard) is allowed.
func IsIfName(s string, wild bool) bool {
	if wild && strings.HasSuffix(s, "+") {
		s = s[:len(s)-1]
	}
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func isAddrList(s string) bool {
	for more := true; more; {
		var e string
		e, s, more = strings.Cut(s, ",")
		if strings.IndexByte(e, '/') < 0 {
			if a, err := netip.ParseAddr(e); err == nil && a.Is4() {
				continue
			}
		} else if p, err := netip.ParsePrefix(e); err == nil && p.Addr().Is4() {
			continue
		}
		return false
	}
	return true
}

func isPortList(s string) bool {
	for more := true; more; {
		var e string
		e, s, more = strings.Cut(s, ",")
		lo, hi, isRange := strings.Cut(e, "-")
		if !isPort(lo) || isRange && !isPort(hi) {
			return false
		}
		if isRange {
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if a > b {
				return false
			}
		}
	}
	return true
}

func isPort(s string) bool {
	if !isDigits(s) || len(s) > 5 {
		return false
	}
	v, _ := strconv.Atoi(s)
	return v >= 1 && v <= 65535
}
