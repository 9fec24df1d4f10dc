package config

import (
	"os"
	"testing"
)

func TestOneLineForm(t *testing.T) {
	src, err := os.ReadFile("testdata/remote-oneline.cfg")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/remote.cfg")
	cfg, err := Parse(src, "remote-oneline.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got := Render(cfg); got != string(want) {
		t.Errorf("one-line form renders differently:\n%s", got)
	}
}
