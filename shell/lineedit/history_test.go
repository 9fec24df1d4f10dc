package lineedit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

func TestHistoryPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", ".mboxsh")
	path := filepath.Join(dir, "history")
	h, err := NewHistory(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	e, w, _ := pipeEditor(t, Options{History: h})
	send(t, w, "a\r b \r\r   \rb\rc\x1ad\x03dd\r")
	for _, want := range []string{"a", " b ", "", "   ", "b", "c", "", "dd"} {
		line, err := e.ReadLine(prompt)
		if line != want {
			t.Fatalf("ReadLine = %q, %v; want %q", line, err, want)
		}
	}
	// Blank lines, interrupted lines and repeats are not stored; the
	// newest 3 are kept in memory, the file has all appended lines.
	if got, want := strings.Join(h.Entries(), ","), "b,c,dd"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
	if got, want := readFile(t, path), "a\n b \nb\nc\ndd\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)
	if h.Err() != nil {
		t.Errorf("Err() = %v", h.Err())
	}

	// A new session loads the newest entries and can recall them.
	h2, err := NewHistory(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(h2.Entries(), ","), "b,c,dd"; got != want {
		t.Errorf("reloaded %q, want %q", got, want)
	}
	e2, w2, _ := pipeEditor(t, Options{History: h2})
	send(t, w2, "\x1b[A\x1b[A\r")
	if line, err := e2.ReadLine(prompt); err != nil || line != "c" {
		t.Fatalf("recall = %q, %v", line, err)
	}

	// Past twice the maximum the file is compacted to the newest lines.
	_ = h2.Add("e") // file: a, " b ", b, c, dd, c, e: 7 lines > 6
	if got, want := readFile(t, path), "dd\nc\ne\n"; got != want {
		t.Errorf("compacted file %q, want %q", got, want)
	}
	checkMode(t, path, 0o600)
	left, _ := filepath.Glob(filepath.Join(dir, ".history.*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestHistoryNarrowsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history")
	if err := os.WriteFile(path, []byte("show run\n\nconf t\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := NewHistory(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)
	if got, want := strings.Join(h.Entries(), ","), "show run,conf t"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
	if h.Max() != DefaultHistorySize || h.Path() != path {
		t.Errorf("Max %d Path %q", h.Max(), h.Path())
	}
}

func TestHistoryFilterAndControlChars(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history")
	h, err := NewHistory(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	h.SetFilter(func(line string) (string, bool) {
		if strings.HasPrefix(line, "!") {
			return "", false
		}
		if i := strings.Index(line, "pre-shared-key "); i >= 0 {
			return line[:i] + "pre-shared-key <removed>", true
		}
		return line, true
	})
	for _, l := range []string{"! comment", "pre-shared-key s3cr3t", "a\nb\tc"} {
		if err := h.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	got := readFile(t, path)
	if strings.Contains(got, "s3cr3t") {
		t.Errorf("secret written to history: %q", got)
	}
	if want := "pre-shared-key <removed>\na b c\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

func TestHistoryTwoSessionsAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history")
	h1, _ := NewHistory(path, 10)
	h2, _ := NewHistory(path, 10)
	_ = h1.Add("one")
	_ = h2.Add("two")
	_ = h1.Add("three")
	if got, want := readFile(t, path), "one\ntwo\nthree\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

func TestHistoryErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewHistory(dir, 10); err == nil {
		t.Error("NewHistory on a directory: want an error")
	}
	// Unwritable location: Add reports it, Err remembers it.
	blocker := filepath.Join(dir, "sub")
	h, err := NewHistory(filepath.Join(blocker, "history"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Add("x"); err == nil || h.Err() == nil {
		t.Errorf("Add under a regular file: err %v, Err %v", err, h.Err())
	}
	if h.Len() != 1 {
		t.Errorf("in-memory entry lost")
	}
}
