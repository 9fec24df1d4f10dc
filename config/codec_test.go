package config

import (
	"os"
	"testing"
)

func TestExamplesRoundTrip(t *testing.T) {
	for _, name := range []string{"testdata/hq.cfg", "testdata/remote.cfg"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(src, name)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if got := Render(cfg); got != string(src) {
			t.Errorf("%s: render differs:\n%s", name, got)
		}
	}
}
