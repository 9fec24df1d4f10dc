package grammar

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testSet is a small grammar exercising every construct of the syntax.
func testSet(t testing.TB) *Set {
	t.Helper()
	h := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cmds := []*Command{
		{Syntax: "show interface [<name:IFNAME>]", Help: h("show", "Show running system information", "interface", "Interface status", "name", "Interface name")},
		{Syntax: "show ip route", Help: h("route", "Routing table")},
		{Syntax: "interface <ifname:IFNAME>", Help: h("interface", "Select an interface", "ifname", "Interface name")},
		{Syntax: "description <text:LINE>", Help: h("description", "Interface description", "text", "Up to 240 characters")},
		{Syntax: "mtu <bytes:68-9000>", Help: h("mtu", "Set the MTU", "bytes", "MTU in bytes")},
		{Syntax: "rule <num:1-100> <action:permit|deny> [<ifname:IFWILD>] {<proto:tcp|udp|icmp> | src <srcs:ADDRLIST> | sport <sports:PORTLIST> | dport <dports:PORTLIST> | remark <note:TEXT>}",
			Help: h("rule", "A rule", "num", "Rule number", "action", "Action", "action.permit", "Let it pass",
				"ifname", "Interface", "proto", "Protocol", "src", "Source", "srcs", "Sources", "sport", "Source ports", "sports", "Ports",
				"dport", "Destination ports", "dports", "Ports", "remark", "Comment", "note", "Comment text")},
		{Syntax: "policy <enc:AES|AES-256> <hash:SHA|SHA-256>", Help: h("policy", "Proposal", "enc", "Encryption", "hash", "Hash", "enc.AES-256", "AES with a 256-bit key")},
		{Syntax: "set (address <a:A.B.C.D/M> | gateway <gw:A.B.C.D>)", Help: h("set", "Set a value", "address", "An address", "a", "Prefix", "gateway", "The gateway", "gw", "Gateway address")},
		{Syntax: "name <n:WORD>", Help: h("name", "Name it", "n", "A name")},
		{Syntax: "secret", Help: h("secret", "Undocumented"), Hidden: true},
		{Syntax: "tunnel local <l:A.B.C.D> [remote <r:A.B.C.D>]", Help: h("tunnel", "Tunnel", "local", "Local end", "l", "Local address", "remote", "Remote end", "r", "Remote address")},
	}
	s, err := Compile(cmds, map[string]string{"ip": "IP information", "show": "Show running system information"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func toks(t testing.TB, line string) []Token {
	t.Helper()
	ts, err := Tokenize(line)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func argString(a Args) string {
	var parts []string
	for _, x := range a {
		parts = append(parts, x.Name+"="+x.Value)
	}
	return strings.Join(parts, " ")
}

func TestMatch(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		line, syntax, args string
	}{
		{"show interface", "show interface [<name:IFNAME>]", "show=show interface=interface"},
		{"show interface eth0", "show interface [<name:IFNAME>]", "show=show interface=interface name=eth0"},
		{"sh int eth0", "show interface [<name:IFNAME>]", "show=show interface=interface name=eth0"},
		{"SHOW IP ROUTE", "show ip route", "show=show ip=ip route=route"},
		{"sh ip r", "show ip route", "show=show ip=ip route=route"},
		{"int tun0", "interface <ifname:IFNAME>", "interface=interface ifname=tun0"},
		{"mtu 1400", "mtu <bytes:68-9000>", "mtu=mtu bytes=1400"},
		{"mtu 01400", "mtu <bytes:68-9000>", "mtu=mtu bytes=1400"},
		{`mtu "1400"`, "mtu <bytes:68-9000>", "mtu=mtu bytes=1400"}, // a quoted value is still a value
		{"description a  b c", "description <text:LINE>", "description=description text=a b c"},
		{`description "a  b"`, "description <text:LINE>", "description=description text=a  b"},
		{"description enable", "description <text:LINE>", "description=description text=enable"},
		{"rule 5 permit", "", "rule=rule num=5 action=permit"},
		{"rule 5 deny eth0 tcp dport 22,80-90 src 10.0.0.0/8,1.2.3.4 remark ssh", "",
			"rule=rule num=5 action=deny ifname=eth0 proto=tcp dport=dport dports=22,80-90 src=src srcs=10.0.0.0/8,1.2.3.4 remark=remark note=ssh"},
		// a keyword, or a unique abbreviation of one, wins over a name
		{"rule 5 permit tcp", "", "rule=rule num=5 action=permit proto=tcp"},
		{"rule 5 permit t dport 22", "", "rule=rule num=5 action=permit proto=tcp dport=dport dports=22"},
		{"rule 5 permit wan+ icmp", "", "rule=rule num=5 action=permit ifname=wan+ proto=icmp"},
		// "s" would be src or sport, but src is taken
		{"rule 5 permit src 1.1.1.1 s 80", "", "rule=rule num=5 action=permit src=src srcs=1.1.1.1 sport=sport sports=80"},
		{`rule 5 permit remark "two words"`, "", "rule=rule num=5 action=permit remark=remark note=two words"},
		{"policy aes sha-256", "", "policy=policy enc=AES hash=SHA-256"},
		{"policy AES SHA", "", "policy=policy enc=AES hash=SHA"},
		{"policy AES-2 SHA-", "", "policy=policy enc=AES-256 hash=SHA-256"},
		{"set address 10.1.2.3/24", "", "set=set address=address a=10.1.2.3/24"},
		{"set gateway 10.1.2.3", "", "set=set gateway=gateway gw=10.1.2.3"},
		{"set g 10.1.2.3", "", "set=set gateway=gateway gw=10.1.2.3"},
		{"name x\\y", "", `name=name n=x\y`},
		{"secret", "secret", "secret=secret"},
		{"sec", "secret", "secret=secret"}, // hidden, but abbreviates nothing visible
		{"tunnel local 1.1.1.1 remote 2.2.2.2", "", "tunnel=tunnel local=local l=1.1.1.1 remote=remote r=2.2.2.2"},
	}
	for _, tt := range tests {
		m, err := s.Match(toks(t, tt.line))
		if err != nil {
			t.Errorf("Match(%q): %v", tt.line, err)
			continue
		}
		if tt.syntax != "" && m.Cmd.Syntax != tt.syntax {
			t.Errorf("Match(%q) matched %q, want %q", tt.line, m.Cmd.Syntax, tt.syntax)
		}
		if got := argString(m.Args); got != tt.args {
			t.Errorf("Match(%q) args\n got %s\nwant %s", tt.line, got, tt.args)
		}
		if m.End != len(toks(t, tt.line)) {
			t.Errorf("Match(%q).End = %d", tt.line, m.End)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		line   string
		kind   ErrorKind
		token  int    // offending token (Invalid, Ambiguous)
		input  string // Error.Input for Ambiguous
		reason string // substring of the reason
	}{
		{"", Incomplete, 0, "", ""},
		{"s", Ambiguous, 0, "s", ""},  // show, set, secret
		{"se", Incomplete, 0, "", ""}, // set; the hidden secret does not make it ambiguous
		{"show", Incomplete, 0, "", ""},
		{"show interface eth0 extra", Invalid, 3, "", ""},
		{"show i", Ambiguous, 1, "show i", ""},
		{"bogus", Invalid, 0, "", ""},
		{"mtu 10000", Invalid, 1, "", "10000 is out of range 68-9000"},
		{"mtu 67", Invalid, 1, "", "out of range"},
		{"mtu 99999999999999999999999", Invalid, 1, "", "out of range"},
		{"mtu -5", Invalid, 1, "", ""},
		{"mtu", Incomplete, 0, "", ""},
		{"set address 10.1.2.3", Invalid, 2, "", ""},
		{"set address 10.1.2.3/33", Invalid, 2, "", ""},
		{"set address 10.1.2/24", Invalid, 2, "", ""},
		{"set gateway 10.1.2.256", Invalid, 2, "", ""},
		{"set gateway 010.1.2.3", Invalid, 2, "", ""},
		{"set gateway ::1", Invalid, 2, "", ""},
		{"set gateway 1.2.3.4/32", Invalid, 2, "", ""},
		{"rule 5 permit dport 0", Invalid, 4, "", ""},
		{"rule 5 permit dport 90-80", Invalid, 4, "", ""},
		{"rule 5 permit dport 65536", Invalid, 4, "", ""},
		{"rule 5 permit src 1.2.3.4,", Invalid, 4, "", ""},
		{"rule 5 permit tcp udp", Invalid, 4, "", ""}, // proto at most once
		{"rule 5 permit tcp tcp", Invalid, 4, "", ""},
		{"rule 5 permit remark", Incomplete, 0, "", ""},
		{"policy A", Ambiguous, 1, "policy A", ""},
		{"policy AES-", Incomplete, 0, "", ""},
		{"name \"quoted\"", Invalid, 1, "", ""},
		{`name a"b`, Invalid, 1, "", ""},
		{`"show" ip route`, Invalid, 0, "", ""}, // a quoted word is never a keyword
		{"interface 0eth", Invalid, 1, "", ""},
		{"interface averyveryverylongname", Invalid, 1, "", ""},
	}
	for _, tt := range tests {
		tk := toks(t, tt.line)
		_, err := s.Match(tk)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Match(%q) = %v, want a grammar error", tt.line, err)
			continue
		}
		if e.Kind != tt.kind {
			t.Errorf("Match(%q): kind %d (%v), want %d", tt.line, e.Kind, e, tt.kind)
			continue
		}
		if tt.kind != Incomplete {
			if e.Token != tt.token || e.Col != tk[tt.token].Col {
				t.Errorf("Match(%q): error at token %d col %d, want token %d col %d", tt.line, e.Token, e.Col, tt.token, tk[tt.token].Col)
			}
		}
		if tt.input != "" && e.Input != tt.input {
			t.Errorf("Match(%q): input %q, want %q", tt.line, e.Input, tt.input)
		}
		if !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("Match(%q): reason %q, want %q", tt.line, e.Reason, tt.reason)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{Kind: Invalid}, "% Invalid input detected at '^' marker."},
		{Error{Kind: Invalid, Reason: "10000 is out of range 68-9000"}, "% Invalid input detected at '^' marker. (10000 is out of range 68-9000)"},
		{Error{Kind: Ambiguous, Input: "sh i"}, `% Ambiguous command:  "sh i"`},
		{Error{Kind: Incomplete}, "% Incomplete command."},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestMatchPrefix(t *testing.T) {
	s := testSet(t)
	tk := toks(t, "tunnel local 1.1.1.1 remote 2.2.2.2 mtu 1400")
	m, err := s.MatchPrefix(tk, nil)
	if err != nil || m.End != 5 || m.Cmd.Syntax != "tunnel local <l:A.B.C.D> [remote <r:A.B.C.D>]" {
		t.Fatalf("MatchPrefix = %+v, %v; want the tunnel, 5 tokens", m, err)
	}
	m, err = s.MatchPrefix(tk[5:], nil)
	if err != nil || m.End != 2 {
		t.Fatalf("MatchPrefix(mtu 1400) = %+v, %v", m, err)
	}
	// the longest complete prefix wins, even if the tokens after it fail
	m, err = s.MatchPrefix(toks(t, "tunnel local 1.1.1.1 remote"), nil)
	if err != nil || m.End != 3 {
		t.Fatalf("MatchPrefix(dangling remote) = %+v, %v", m, err)
	}
	// a filter limits the commands
	_, err = s.MatchPrefix(toks(t, "mtu 1400 x"), func(c *Command) bool { return c.Syntax != "mtu <bytes:68-9000>" })
	var e *Error
	if !errors.As(err, &e) || e.Kind != Invalid || e.Token != 2 {
		t.Fatalf("filtered MatchPrefix: %v", err)
	}
	// no prefix: the error of the whole line
	_, err = s.MatchPrefix(toks(t, "mtu 10000 x"), nil)
	if !errors.As(err, &e) || e.Token != 1 || !strings.Contains(e.Reason, "range") {
		t.Fatalf("MatchPrefix(mtu 10000): %v", err)
	}
	if _, err := s.MatchPrefix(nil, nil); !errors.As(err, &e) || e.Kind != Incomplete {
		t.Fatalf("MatchPrefix(nil): %v", err)
	}
	if _, err := s.MatchPrefix(toks(t, "show ip"), nil); !errors.As(err, &e) || e.Kind != Incomplete {
		t.Fatalf("MatchPrefix(show ip): %v", err)
	}
}

// The command declared first wins when several match.
func TestMatchPreference(t *testing.T) {
	s := MustCompile([]*Command{
		{Syntax: "go <x:WORD>", Help: map[string]string{"go": "Go", "x": "Anything"}, Data: 1},
		{Syntax: "go <n:1-10>", Help: map[string]string{"go": "Go", "n": "A number"}, Data: 2},
	}, nil)
	m, err := s.Match(toks(t, "go 5"))
	if err != nil || m.Cmd.Data != 1 {
		t.Fatalf("go 5 matched %+v, %v; want the first declared", m, err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []Command{
		{Syntax: "a [b", Help: map[string]string{"a": "A", "b": "B"}},
		{Syntax: "a (b | c", Help: map[string]string{"a": "A", "b": "B", "c": "C"}},
		{Syntax: "a b)", Help: map[string]string{"a": "A", "b": "B"}},
		{Syntax: "a <b>", Help: map[string]string{"a": "A", "b": "B"}},
		{Syntax: "a <b:>", Help: map[string]string{"a": "A", "b": "B"}},
		{Syntax: "a <a:WORD>", Help: map[string]string{"a": "A"}},
		{Syntax: "a b", Help: map[string]string{"a": "A"}},
		{Syntax: "a <v:WORD>", Help: map[string]string{"a": "A"}},
	} {
		c := c
		if _, err := Compile([]*Command{&c}, nil); err == nil {
			t.Errorf("Compile(%q) succeeded", c.Syntax)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustCompile did not panic")
		}
	}()
	MustCompile([]*Command{{Syntax: "a ["}}, nil)
}

func helpWords(items []HelpItem) string {
	var w []string
	for _, it := range items {
		w = append(w, it.Word)
	}
	return strings.Join(w, " ")
}

func TestHelp(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		line, partial, want string
	}{
		// `?` alone: every first keyword, hidden ones left out
		{"", "", "description interface mtu name policy rule set show tunnel"},
		{"", "s", "set show"},
		{"", "S", "set show"},
		{"", "sec", ""},
		{"show", "", "interface ip"},
		{"show", "i", "interface ip"},
		{"show interface", "", "IFNAME <cr>"},
		{"show interface eth0", "", "<cr>"},
		{"sh int", "", "IFNAME <cr>"},
		{"mtu", "", "<68-9000>"},
		{"description", "", "LINE"},
		{"description a", "", "LINE <cr>"},
		{`description "a b"`, "", "<cr>"},
		{"policy", "", "AES AES-256"},
		{"policy", "aes-", "AES-256"},
		{"policy AES", "", "SHA SHA-256"},
		{"set", "", "address gateway"},
		{"set address", "", "A.B.C.D/M"},
		{"rule 1", "", "deny permit"},
		{"rule 1 permit", "", "dport icmp remark sport src tcp udp IFNAME <cr>"},
		{"rule 1 permit tcp", "", "dport remark sport src <cr>"},
		{"rule 1 permit tcp src 1.1.1.1", "", "dport remark sport <cr>"},
		{"rule 1 permit dport", "", "PORT[-PORT][,...]"},
		{"rule 1 permit src", "", "A.B.C.D[/M][,...]"},
	}
	for _, tt := range tests {
		items, err := s.Help(toks(t, tt.line), tt.partial)
		if err != nil {
			t.Errorf("Help(%q, %q): %v", tt.line, tt.partial, err)
			continue
		}
		if got := helpWords(items); got != tt.want {
			t.Errorf("Help(%q, %q)\n got %s\nwant %s", tt.line, tt.partial, got, tt.want)
		}
	}
	// help texts: own, common, per literal, falling back to the value's
	items, _ := s.Help(toks(t, "show"), "")
	if items[1].Help != "IP information" {
		t.Errorf("common help: %+v", items)
	}
	items, _ = s.Help(toks(t, "policy"), "")
	if items[0].Help != "Encryption" || items[1].Help != "AES with a 256-bit key" {
		t.Errorf("literal help: %+v", items)
	}
	items, _ = s.Help(toks(t, "show interface"), "")
	if items[0].Help != "Interface name" || items[1] != (HelpItem{"<cr>", ""}) {
		t.Errorf("value help: %+v", items)
	}
	// a line that does not match is an error, with its caret
	_, err := s.Help(toks(t, "mtu 1400 1500"), "")
	var e *Error
	if !errors.As(err, &e) || e.Token != 2 {
		t.Errorf("Help after a bad token: %v", err)
	}
}

func TestCandidates(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		line, partial, words, slots string
	}{
		{"", "", "description interface mtu name policy rule set show tunnel", ""},
		{"", "sh", "show", ""},
		{"show", "", "interface ip", ""},
		{"show interface", "", "", "name:IFNAME"},
		{"show interface", "e", "", "name:IFNAME"},
		{"policy", "a", "AES AES-256", ""},
		{"policy", "AES-", "AES-256", ""},
		{"rule 1 permit", "", "dport icmp remark sport src tcp udp", "ifname:IFNAME"},
		{"rule 1 permit tcp", "s", "sport src", ""},
		{"tunnel local 1.1.1.1", "", "remote", ""},
		{"set address", "", "", "a:A.B.C.D/M"},
	}
	for _, tt := range tests {
		words, slots, err := s.Candidates(toks(t, tt.line), tt.partial)
		if err != nil {
			t.Errorf("Candidates(%q, %q): %v", tt.line, tt.partial, err)
			continue
		}
		var sl []string
		for _, x := range slots {
			sl = append(sl, x.Name+":"+x.Type)
		}
		if got := strings.Join(words, " "); got != tt.words {
			t.Errorf("Candidates(%q, %q) words %q, want %q", tt.line, tt.partial, got, tt.words)
		}
		if got := strings.Join(sl, " "); got != tt.slots {
			t.Errorf("Candidates(%q, %q) slots %q, want %q", tt.line, tt.partial, got, tt.slots)
		}
	}
	if _, _, err := s.Candidates(toks(t, "bogus"), ""); err == nil {
		t.Error("Candidates after an invalid word: no error")
	}
}

func TestFormat(t *testing.T) {
	s := testSet(t)
	cmd := func(prefix string) *Command {
		for _, c := range s.Commands() {
			if strings.HasPrefix(c.Syntax, prefix) {
				return c
			}
		}
		t.Fatalf("no command %q", prefix)
		return nil
	}
	a := func(kv ...string) Args {
		var out Args
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, Arg{kv[i], kv[i+1]})
		}
		return out
	}
	tests := []struct {
		cmd  string
		args Args
		want string
	}{
		{"show interface", nil, "show interface"},
		{"show interface", a("name", "eth0"), "show interface eth0"},
		{"tunnel", a("l", "1.1.1.1"), "tunnel local 1.1.1.1"},
		{"tunnel", a("l", "1.1.1.1", "r", "2.2.2.2"), "tunnel local 1.1.1.1 remote 2.2.2.2"},
		{"description", a("text", "two words"), `description "two words"`},
		{"description", a("text", `say "hi"\`), `description "say \"hi\"\\"`},
		{"description", a("text", ""), `description ""`},
		{"set", a("a", "1.2.3.4/24"), "set address 1.2.3.4/24"},
		{"set", a("gw", "1.2.3.4"), "set gateway 1.2.3.4"},
		// {…} parts print in declared order, whatever the order of args
		{"rule", a("num", "5", "action", "deny", "note", "x y", "dports", "22", "proto", "tcp", "srcs", "1.1.1.1"),
			`rule 5 deny tcp src 1.1.1.1 dport 22 remark "x y"`},
		{"rule", a("num", "5", "action", "permit", "ifname", "eth+"), "rule 5 permit eth+"},
		{"policy", a("enc", "AES", "hash", "SHA"), "policy AES SHA"},
		// a missing mandatory value leaves nothing to print
		{"mtu", nil, ""},
	}
	for _, tt := range tests {
		c := cmd(tt.cmd)
		if got := c.Format(tt.args); got != tt.want {
			t.Errorf("Format(%s, %v) = %q, want %q", c.Syntax, tt.args, got, tt.want)
		}
		if got := string(c.AppendFormat([]byte("> "), tt.args)); got != "> "+tt.want {
			t.Errorf("AppendFormat = %q", got)
		}
	}
}

// Format is the inverse of Match: the text of a match matches again with
// the same arguments.
func TestFormatMatchRoundTrip(t *testing.T) {
	s := testSet(t)
	for _, line := range []string{
		"sh int eth0", "rule 7 deny eth1 udp sport 53 dport 1-1024 remark \"a \\\"b\\\"\" src 1.1.1.0/24",
		"policy aes-256 sha", "set g 1.1.1.1", "tunnel loc 1.1.1.1 rem 2.2.2.2", `description "x  y"`,
		"description a b", "rule 1 permit t",
	} {
		m, err := s.Match(toks(t, line))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		text := m.Cmd.Format(m.Args)
		m2, err := s.Match(toks(t, text))
		if err != nil {
			t.Fatalf("%q formats as %q, which does not match: %v", line, text, err)
		}
		if m2.Cmd != m.Cmd || !sameArgs(m.Args, m2.Args) {
			t.Errorf("%q -> %q -> %v, want %v", line, text, m2.Args, m.Args)
		}
	}
}

func sameArgs(a, b Args) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if v, ok := b.Get(x.Name); !ok || v != x.Value {
			return false
		}
	}
	return true
}

func TestTokens(t *testing.T) {
	s := testSet(t)
	var got []string
	for _, c := range s.Commands() {
		if strings.HasPrefix(c.Syntax, "set ") {
			for _, it := range c.Tokens() {
				got = append(got, fmt.Sprintf("%s=%s", it.Word, it.Help))
			}
		}
	}
	want := []string{"set=Set a value", "address=An address", "A.B.C.D/M=Prefix", "gateway=The gateway", "A.B.C.D=Gateway address"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestArgs(t *testing.T) {
	a := Args{{"n", "42"}, {"s", "x"}, {"e", ""}}
	if a.Int("n") != 42 || a.Int("s") != 0 || a.Str("s") != "x" || a.Str("z") != "" || !a.Has("e") || a.Has("z") {
		t.Errorf("Args accessors wrong on %v", a)
	}
	if v, ok := a.Get("e"); !ok || v != "" {
		t.Errorf("Get(e) = %q, %v", v, ok)
	}
}

func TestIsIfName(t *testing.T) {
	for s, want := range map[string]bool{
		"eth0": true, "lo": true, "eth1.100": true, "wan_1": true, "lan-2": true, "a": true,
		"": false, "0eth": false, "eth 0": false, "eth0+": false, "averyveryverylong": false, "-x": false, "é": false,
	} {
		if got := IsIfName(s, false); got != want {
			t.Errorf("IsIfName(%q) = %v", s, got)
		}
	}
	if !IsIfName("eth+", true) || IsIfName("+", true) || IsIfName("eth++", true) || IsIfName("eth+", false) {
		t.Error("IsIfName wildcards")
	}
}

// Matching is safe from several goroutines at once (the pooled scratch
// space is per call).
func TestMatchConcurrent(t *testing.T) {
	s := testSet(t)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 300 && err == nil; i++ {
				line := fmt.Sprintf("rule %d permit eth%d tcp dport %d remark r%d", 1+(g*7+i)%100, g, 1+i, i)
				tk, _ := Tokenize(line)
				var m *Match
				if m, err = s.Match(tk); err == nil {
					if m.Args.Str("dports") != fmt.Sprint(1+i) || m.Args.Str("ifname") != fmt.Sprintf("eth%d", g) {
						err = fmt.Errorf("%q matched as %v", line, m.Args)
					}
				}
				if _, herr := s.Help(tk[:3], ""); herr != nil && err == nil {
					err = herr
				}
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
