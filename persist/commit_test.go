package persist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommit: Commit leaves what WriteRunning then Archive would, also past
// a full archive, and leaves no temporary file behind.
func TestCommit(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range ArchiveSize + 3 {
		cfg := []byte(fmt.Sprintf("hostname r%d\n%s", i, strings.Repeat("firewall-access 1 permit all eth0\n", 1000)))
		e, err := s.Commit(cfg, Meta{User: "admin", Comment: fmt.Sprint(i)})
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if e.Seq != uint64(i+1) {
			t.Fatalf("commit %d archived as %d", i, e.Seq)
		}
		run, err := s.ReadRunning()
		if err != nil || !bytes.Equal(run, cfg) {
			t.Fatalf("commit %d: running-config %q..., %v", i, run[:min(len(run), 20)], err)
		}
		got, le, err := s.Load(0)
		if err != nil || !bytes.Equal(got, cfg) || le.Comment != fmt.Sprint(i) {
			t.Fatalf("commit %d: rollback 0 = %q... (%+v), %v", i, got[:min(len(got), 20)], le, err)
		}
	}
	h, err := s.History()
	if err != nil || len(h) != ArchiveSize {
		t.Fatalf("history: %d entries, %v", len(h), err)
	}
	for _, d := range []string{s.dir, s.archive} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				t.Errorf("temporary file left: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// TestCommitFailureReported: a running-config that cannot be replaced is
// reported, and the archive entry is still made, as the two calls would.
func TestCommitFailureReported(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A directory in the way of the rename.
	if err := os.Mkdir(s.path(runningName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.path(runningName), "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := s.Commit([]byte("hostname x\n"), Meta{})
	if !errors.Is(err, ErrRunningNotSaved) {
		t.Fatalf("want a running-config error, got %v", err)
	}
	if e.Seq != 1 {
		t.Fatalf("archive entry %+v", e)
	}
}
