package persist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func cfgN(i int) []byte { return []byte(fmt.Sprintf("hostname r%d\n!\n", i)) }

// commit archives cfgN(i) with metadata derived from i. Times run
// backwards to prove the order comes from the commit sequence, not the
// clock.
func commit(t *testing.T, s *Store, i int) Entry {
	t.Helper()
	e, err := s.Archive(cfgN(i), Meta{
		Time:    testTime.Add(-time.Duration(i) * time.Minute),
		User:    fmt.Sprintf("user%d", i),
		Comment: fmt.Sprintf("change %d", i),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestArchiveOrderAndPrune(t *testing.T) {
	s := open(t, t.TempDir())
	if h, err := s.History(); err != nil || len(h) != 0 {
		t.Fatalf("History of an empty archive = %v, %v", h, err)
	}
	if _, _, err := s.Load(0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(0) of an empty archive: err %v, want ErrNotExist", err)
	}

	const total = ArchiveSize + 5
	for i := 1; i <= total; i++ {
		e := commit(t, s, i)
		if e.Seq != uint64(i) {
			t.Fatalf("commit %d got Seq %d", i, e.Seq)
		}
		h, err := s.History()
		if err != nil {
			t.Fatal(err)
		}
		if want := min(i, ArchiveSize); len(h) != want {
			t.Fatalf("after %d commits History has %d entries, want %d", i, len(h), want)
		}
		if h[0] != e {
			t.Fatalf("History()[0] = %+v, want the entry just archived %+v", h[0], e)
		}
	}

	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	for n, e := range h {
		i := total - n // rollback n is commit total-n
		if e.Seq != uint64(i) || e.User != fmt.Sprintf("user%d", i) || e.Comment != fmt.Sprintf("change %d", i) ||
			!e.Time.Equal(testTime.Add(-time.Duration(i)*time.Minute)) || e.Size != int64(len(cfgN(i))) {
			t.Fatalf("History()[%d] = %+v, want commit %d", n, e, i)
		}
		b, le, err := s.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(cfgN(i)) || le != e {
			t.Fatalf("Load(%d) = %q, %+v; want %q, %+v", n, b, le, cfgN(i), e)
		}
	}
	for _, n := range []int{-1, ArchiveSize, ArchiveSize + 1} {
		if _, _, err := s.Load(n); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%d): err %v, want ErrNotExist", n, err)
		}
	}
	ents, err := os.ReadDir(s.archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2*ArchiveSize {
		t.Fatalf("archive directory holds %d files, want %d", len(ents), 2*ArchiveSize)
	}
	for i := 1; i <= total-ArchiveSize; i++ {
		if _, err := os.Stat(s.cfgPath(uint64(i))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("pruned commit %d still has its configuration file", i)
		}
	}
}

func TestArchiveZeroTimeIsNow(t *testing.T) {
	s := open(t, t.TempDir())
	before := time.Now()
	e, err := s.Archive(nil, Meta{User: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Time.Before(before) || e.Time.After(time.Now()) {
		t.Fatalf("zero Meta.Time became %v", e.Time)
	}
	b, le, err := s.Load(0)
	if err != nil || len(b) != 0 || le.Seq != 1 || le.User != "admin" {
		t.Fatalf("Load(0) = %q, %+v, %v", b, le, err)
	}
}

// TestArchiveCrash stops Archive at every step of both file writes, between
// them, and in the middle of pruning, and checks that the archive always
// reads consistently and that the next Archive recovers.
func TestArchiveCrash(t *testing.T) {
	type point struct{ step, file string }
	var points []point
	for _, st := range writeSteps {
		points = append(points, point{st, ".cfg"}, point{st, ".json"})
	}
	points = append(points, point{"archived-cfg", ".cfg"}, point{"pruned-meta", ".json"})

	for _, p := range points {
		t.Run(p.step+p.file, func(t *testing.T) {
			s := open(t, t.TempDir())
			n := 3
			if p.step == "pruned-meta" {
				n = ArchiveSize // the next commit prunes commit 1
			}
			for i := 1; i <= n; i++ {
				commit(t, s, i)
			}
			before, err := s.History()
			if err != nil {
				t.Fatal(err)
			}

			s.crash = func(st, path string) bool { return st == p.step && strings.HasSuffix(path, p.file) }
			if _, err := s.Archive(cfgN(n+1), Meta{Time: testTime, User: "crash"}); !errors.Is(err, errCrash) {
				t.Fatalf("Archive: err %v, want the simulated crash", err)
			}
			s.crash = nil

			h, err := s.History()
			if err != nil {
				t.Fatalf("History after a crash: %v", err)
			}
			// The crash either kept the old archive or completed the new
			// entry (the metadata rename happened).
			committed := p.file == ".json" && (p.step == "renamed" || p.step == "pruned-meta")
			switch {
			case !committed:
				if len(h) != len(before) || h[0] != before[0] {
					t.Fatalf("crash before the metadata rename changed History: %d entries, newest %d", len(h), h[0].Seq)
				}
			case p.step == "pruned-meta":
				if len(h) != ArchiveSize || h[0].Seq != uint64(n+1) || h[len(h)-1].Seq != 2 {
					t.Fatalf("crash mid-prune: History has %d entries, %d..%d", len(h), h[0].Seq, h[len(h)-1].Seq)
				}
			default:
				if len(h) != len(before)+1 || h[0].Seq != uint64(n+1) {
					t.Fatalf("crash after the metadata rename: History has %d entries, newest %d", len(h), h[0].Seq)
				}
			}
			for i := range h {
				if _, _, err := s.Load(i); err != nil {
					t.Fatalf("Load(%d) after a crash: %v", i, err)
				}
			}

			// Recovery: the next Archive succeeds, removes the leftovers and
			// numbers on from the last complete entry.
			e := commit(t, s, n+10)
			if want := h[0].Seq + 1; e.Seq != want {
				t.Fatalf("next Archive got Seq %d, want %d", e.Seq, want)
			}
			if left := temps(t, s); len(left) != 0 {
				t.Fatalf("temporary files survive the next Archive: %v", left)
			}
			entries, orphans, err := s.scan()
			if err != nil || len(orphans) != 0 {
				t.Fatalf("after recovery: orphans %v, err %v", orphans, err)
			}
			ents, _ := os.ReadDir(s.archive)
			if len(ents) != 2*len(entries) {
				t.Fatalf("after recovery the archive directory holds %d files for %d entries", len(ents), len(entries))
			}
			if b, _, err := s.Load(0); err != nil || string(b) != string(cfgN(n+10)) {
				t.Fatalf("Load(0) after recovery = %q, %v", b, err)
			}
		})
	}
}

// TestCorruptMetadata feeds foreign or damaged archive files and checks
// that every operation on the archive fails with a clear error naming the
// file, and that none of them changes anything on disk.
func TestCorruptMetadata(t *testing.T) {
	good := func(s *Store) string { b, _ := os.ReadFile(s.metaPath(2)); return string(b) }
	cases := []struct {
		name   string
		damage func(t *testing.T, s *Store)
		want   string // in the error
	}{
		{"not json", func(t *testing.T, s *Store) { writeRaw(t, s.metaPath(2), "hostname r2\n") }, "not mboxsh archive metadata"},
		{"truncated", func(t *testing.T, s *Store) { writeRaw(t, s.metaPath(2), good(s)[:40]) }, "not mboxsh archive metadata"},
		{"empty", func(t *testing.T, s *Store) { writeRaw(t, s.metaPath(2), "") }, "not mboxsh archive metadata"},
		{"trailing data", func(t *testing.T, s *Store) { writeRaw(t, s.metaPath(2), good(s)+"{}") }, "trailing data"},
		{"foreign format", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(2), strings.Replace(good(s), archiveFormat, "rancid/2", 1))
		}, `format "rancid/2"`},
		{"no format", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(2), `{"seq":2,"time":"2025-03-01T12:00:00Z","size":1,"sha256":"`+strings.Repeat("a", 64)+`"}`)
		}, `format ""`},
		{"unknown field", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(2), strings.Replace(good(s), `"format"`, `"label": "x", "format"`, 1))
		}, `unknown field "label"`},
		{"seq mismatch", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(2), strings.Replace(good(s), `"seq": 2`, `"seq": 7`, 1))
		}, "records commit 7"},
		{"bad sha", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(2), strings.Replace(good(s), `"sha256": "`, `"sha256": "zz`, 1))
		}, "bad sha256"},
		{"missing configuration", func(t *testing.T, s *Store) {
			if err := os.Remove(s.cfgPath(2)); err != nil {
				t.Fatal(err)
			}
		}, "000002.cfg is missing"},
		{"directory as metadata", func(t *testing.T, s *Store) {
			if err := os.Mkdir(filepath.Join(s.archive, "000009.json"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			for i := 1; i <= 3; i++ {
				commit(t, s, i)
			}
			c.damage(t, s)
			// Leftovers that a successful Archive would clean up, and
			// foreign names that are always left alone.
			writeRaw(t, filepath.Join(s.archive, tmpPrefix+"000004.cfg-123"), "half")
			writeRaw(t, s.cfgPath(8), "orphan\n")
			writeRaw(t, filepath.Join(s.archive, "README"), "not ours\n")
			writeRaw(t, filepath.Join(s.archive, "12.json"), "not ours\n")
			before := tree(t, s.dir)

			_, herr := s.History()
			_, _, lerr := s.Load(0)
			_, aerr := s.Archive(cfgN(4), Meta{User: "u"})
			for what, err := range map[string]error{"History": herr, "Load": lerr, "Archive": aerr} {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: err %v, want ErrCorrupt", what, err)
					continue
				}
				if !strings.Contains(err.Error(), "archive/0000") || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: error %q does not name the file and say %q", what, err, c.want)
				}
			}
			sameTree(t, before, tree(t, s.dir))
		})
	}
}

// TestCorruptConfiguration damages an archived configuration: Load of that
// entry fails, the others still load.
func TestCorruptConfiguration(t *testing.T) {
	s := open(t, t.TempDir())
	for i := 1; i <= 3; i++ {
		commit(t, s, i)
	}
	writeRaw(t, s.cfgPath(2), "hostname evil\n!\n")
	if _, _, err := s.Load(1); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "000002.cfg") {
		t.Fatalf("Load(1) of a modified configuration: err %v, want ErrCorrupt naming 000002.cfg", err)
	}
	for _, n := range []int{0, 2} {
		if _, _, err := s.Load(n); err != nil {
			t.Fatalf("Load(%d): %v", n, err)
		}
	}
}

// TestForeignNamesIgnored: files persist would not have written are not
// entries and survive pruning.
func TestForeignNamesIgnored(t *testing.T) {
	s := open(t, t.TempDir())
	foreign := []string{"README", "12.json", "0000001.cfg", "000000.json", "000003.cfg.bak", "x.cfg"}
	for _, f := range foreign {
		writeRaw(t, filepath.Join(s.archive, f), "not ours\n")
	}
	for i := 1; i <= ArchiveSize+2; i++ {
		commit(t, s, i)
	}
	h, err := s.History()
	if err != nil || len(h) != ArchiveSize {
		t.Fatalf("History: %d entries, %v", len(h), err)
	}
	for _, f := range foreign {
		if _, err := os.Stat(filepath.Join(s.archive, f)); err != nil {
			t.Errorf("foreign file %s: %v", f, err)
		}
	}
}

func writeRaw(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkArchiveFull measures one commit's archive step on a full
// archive (scan of 50 entries, two atomic writes, one prune) with a
// configuration of about 100 KB.
func BenchmarkArchiveFull(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cfg := []byte(strings.Repeat("firewall-access 10 permit tcp any any eq 443\n", 2300))
	for i := 0; i < ArchiveSize; i++ {
		if _, err := s.Archive(cfg, Meta{User: "admin"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Archive(cfg, Meta{User: "admin", Comment: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteRunning measures one atomic write of a 100 KB config.
func BenchmarkWriteRunning(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cfg := []byte(strings.Repeat("firewall-access 10 permit tcp any any eq 443\n", 2300))
	for i := 0; i < b.N; i++ {
		if err := s.WriteRunning(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistory measures listing a full archive.
func BenchmarkHistory(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < ArchiveSize; i++ {
		if _, err := s.Archive([]byte("hostname r\n"), Meta{User: "admin"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.History(); err != nil {
			b.Fatal(err)
		}
	}
}
