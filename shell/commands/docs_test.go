package commands

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/commands.md")

// TestDocs fails when docs/commands.md differs from what the declarations
// generate; `go test ./shell/commands -run TestDocs -update` rewrites it.
func TestDocs(t *testing.T) {
	const path = "../../docs/commands.md"
	want := Markdown(append(All(), Show(nil)...))
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run `go test ./shell/commands -run TestDocs -update`", path)
	}
}
