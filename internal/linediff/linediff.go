// Package linediff shows how two multi-line texts differ, line by line,
// for test failure messages.
package linediff

import "strings"

// Diff lists the lines of a missing from b ("- ") and the lines of b
// missing from a ("+ "), ignoring order.
func Diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	count := func(xs []string) map[string]int {
		m := make(map[string]int, len(xs))
		for _, x := range xs {
			m[x]++
		}
		return m
	}
	ca, cb := count(al), count(bl)
	var out strings.Builder
	for _, l := range al {
		if cb[l] == 0 {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range bl {
		if ca[l] == 0 {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}
