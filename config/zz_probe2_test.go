package config

import (
	"os"
	"testing"
)

func TestZZDump(t *testing.T) {
	c := bigModel(100000)
	src := Render(c)
	os.WriteFile("/tmp/probe/a.cfg", []byte(src), 0o644)
	got, err := Parse([]byte(src), "big.cfg")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/probe/b.cfg", []byte(Render(got)), 0o644)
}
