package grammar

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// slowFormat is AppendFormat as it was first written, a walk of the syntax
// searching args as it goes; AppendFormat must give the same text.
func slowFormat(c *Command, dst []byte, args Args) []byte {
	f := formatter{buf: dst, start: len(dst), args: args}
	f.node(c.root)
	return f.buf
}

type formatter struct {
	buf   []byte
	start int // where this command's text begins in buf
	args  Args
}

func (f *formatter) word(w string, quote bool) {
	if len(f.buf) > f.start {
		f.buf = append(f.buf, ' ')
	}
	if quote {
		f.buf = AppendQuote(f.buf, w)
	} else {
		f.buf = append(f.buf, w...)
	}
}

func (f *formatter) node(n *node) bool {
	switch n.kind {
	case nKeyword:
		f.word(n.word, false)
		return true
	case nValue:
		v, ok := f.args.Get(n.word)
		if !ok {
			return false
		}
		f.word(v, true)
		return true
	case nSeq:
		mark := len(f.buf)
		for _, k := range n.kids {
			if !f.node(k) {
				f.buf = f.buf[:mark]
				return false
			}
		}
		return true
	case nOpt:
		if present(n.kids[0], f.args) {
			f.node(n.kids[0])
		}
		return true
	case nAlt:
		for _, k := range n.kids {
			if present(k, f.args) && f.node(k) {
				return true
			}
		}
		return false
	case nAny:
		for _, k := range n.kids {
			if present(k, f.args) {
				f.node(k)
			}
		}
		return true
	}
	return false
}

// formatSyntaxes are shapes the fast formatter must get right: nested
// optional parts and alternatives whose sequences fail half-way, keyword-only
// parts, repeated names, and a command past 64 names (the plain walk).
var formatSyntaxes = []string{
	"show interface [<name:IFNAME>]",
	"rule <num:1-100> <action:permit|deny> [<ifname:IFWILD>] {<proto:tcp|udp|icmp> | src <srcs:ADDRLIST> | sport <sports:PORTLIST> | dport <dports:PORTLIST> | remark <note:TEXT>}",
	"set (address <a:A.B.C.D/M> | gateway <gw:A.B.C.D>)",
	"tunnel local <l:A.B.C.D> [remote <r:A.B.C.D>]",
	"interface (<ifname:IFNAME>|vlan <port:0-4095> <vid:1-4094>|bridge <br:IFNAME>)",
	"a [b [c <x:WORD> [d <y:WORD>]] e <z:WORD>] (f | g <w:WORD> | h)",
	"k {l | m <v:WORD> n <u:WORD> | o [p] <t:TEXT>} [q (r <s:WORD> | <s2:WORD>)]",
	"ip ospf cost <val:1-65535>",
	"x <v:WORD> [y <v2:WORD>] z",
	"default-information originate",
	"redistribute <what:connected|static>",
}

func wideSyntax(n int) string {
	var b strings.Builder
	b.WriteString("wide")
	for i := 0; i < n; i++ {
		b.WriteString(" [k" + strconv.Itoa(i) + " <v" + strconv.Itoa(i) + ":WORD>]")
	}
	return b.String()
}

func TestAppendFormatMatchesPlainWalk(t *testing.T) {
	syntaxes := append(formatSyntaxes, wideSyntax(31), wideSyntax(40))
	for _, syn := range formatSyntaxes { // the same shapes past 64 names
		syntaxes = append(syntaxes, syn+strings.TrimPrefix(wideSyntax(33), "wide"))
	}
	var cmds []*Command
	for _, syn := range syntaxes {
		root, err := parseSyntax(syn)
		if err != nil {
			t.Fatal(err)
		}
		help := map[string]string{}
		walk(root, func(n *node) {
			if n.kind == nKeyword || n.kind == nValue {
				help[n.word] = "help"
			}
		})
		cmds = append(cmds, &Command{Syntax: syn, Help: help})
	}
	if _, err := Compile(cmds, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(formatSyntaxes); !cmds[n].fastFormat || cmds[n+1].fastFormat || cmds[n+2].fastFormat {
		t.Fatal("the wide syntaxes do not test both walks")
	}
	values := []string{"v", "two words", "", `q"uote`, `back\slash`, "10.0.0.1", "tab\there"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cmds {
		var names []string
		walk(c.root, func(n *node) {
			if n.kind == nKeyword || n.kind == nValue {
				names = append(names, n.word)
			}
		})
		names = append(names, "unknown", "")
		for i := 0; i < 3000; i++ {
			var args Args
			for k := r.IntN(len(names) + 3); k > 0; k-- {
				args = append(args, Arg{names[r.IntN(len(names))], values[r.IntN(len(values))]})
			}
			if i%3 == 0 { // in syntax order, as the statements' Get gives them
				args = args[:0]
				for _, n := range names {
					if r.IntN(2) == 0 {
						args = append(args, Arg{n, values[r.IntN(len(values))]})
					}
				}
			}
			prefix := []byte("> ")
			want := string(slowFormat(c, prefix, args))
			if got := string(c.AppendFormat(prefix, args)); got != want {
				t.Fatalf("AppendFormat(%q, %q) = %q, want %q", c.Syntax, args, got, want)
			}
		}
	}
	// more than 256 arguments take the plain walk
	c := cmds[0]
	var many Args
	for i := 0; i < 300; i++ {
		many = append(many, Arg{"other", "x"})
	}
	many = append(many, Arg{"name", "eth0"})
	if got := c.Format(many); got != "show interface eth0" {
		t.Fatalf("Format with 301 args = %q", got)
	}
}

// Commands are shared by the goroutines of a program (the default
// grammar): their plans must be safe to make and read concurrently.
func TestAppendFormatConcurrent(t *testing.T) {
	s := testSet(t)
	var rule *Command
	for _, c := range s.Commands() {
		if strings.HasPrefix(c.Syntax, "rule ") {
			rule = c
		}
	}
	opt := []Arg{{"ifname", "eth0"}, {"proto", "tcp"}, {"srcs", "1.1.1.1"}, {"sports", "1"}, {"dports", "2"}, {"note", "x y"}}
	done := make(chan string)
	for g := 0; g < 8; g++ {
		go func() {
			var bad string
			for i := 0; i < 2000; i++ {
				args := Args{{"num", "1"}, {"action", "deny"}}
				for k, a := range opt {
					if (i+g)>>k&1 != 0 {
						args = append(args, a)
					}
				}
				if got, want := string(rule.AppendFormat(nil, args)), string(slowFormat(rule, nil, args)); got != want && bad == "" {
					bad = got + " != " + want
				}
			}
			done <- bad
		}()
	}
	for g := 0; g < 8; g++ {
		if bad := <-done; bad != "" {
			t.Error(bad)
		}
	}
}
