package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheSeesLaterDamage damages a metadata file after the Store has
// read, validated and cached it, in ways that keep what a naive cache key
// would look at (size, mtime, even the inode), and checks that History,
// Load and Archive of that same Store all notice and change nothing.
func TestCacheSeesLaterDamage(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, s *Store)
		want   string
	}{
		{"rewritten in place, same size, same mtime", func(t *testing.T, s *Store) {
			p := s.metaPath(2)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			writeRaw(t, p, strings.Replace(string(b), `"seq": 2`, `"seq": 7`, 1))
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, "records commit 7"},
		{"replaced, same size, same mtime", func(t *testing.T, s *Store) {
			p := s.metaPath(2)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			tmp := filepath.Join(s.dir, "foreign")
			writeRaw(t, tmp, strings.Replace(string(b), archiveFormat, "rancid/2/xyz", 1))
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}, `format "rancid/2/xyz"`},
		{"configuration removed", func(t *testing.T, s *Store) {
			if err := os.Remove(s.cfgPath(2)); err != nil {
				t.Fatal(err)
			}
		}, "000002.cfg is missing"},
		{"foreign metadata added", func(t *testing.T, s *Store) {
			writeRaw(t, s.metaPath(9), "hostname r9\n")
			writeRaw(t, s.cfgPath(9), "hostname r9\n")
		}, "not mboxsh archive metadata"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			for i := 1; i <= 3; i++ {
				commit(t, s, i)
			}
			settle(t, s, 2)
			commit(t, s, 4)
			if _, err := s.History(); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			_, cached := s.metas[2]
			s.mu.Unlock()
			if !cached {
				t.Fatal("commit 2 is no longer cached: the test would prove nothing")
			}

			c.damage(t, s)
			before := tree(t, s.dir)
			_, herr := s.History()
			_, _, lerr := s.Load(0)
			_, aerr := s.Archive(cfgN(5), Meta{User: "u"})
			for what, err := range map[string]error{"History": herr, "Load": lerr, "Archive": aerr} {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s after damage: err %v, want ErrCorrupt saying %q", what, err, c.want)
				}
			}
			sameTree(t, before, tree(t, s.dir))
		})
	}
}

// settle waits until s caches commit seq, which takes a change to the
// archive in a later tick of the filesystem's clock (a second on some):
// it makes such changes, with foreign names that persist ignores.
func settle(t *testing.T, s *Store, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if _, err := s.History(); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		_, ok := s.metas[seq]
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit %d is not cached after 10 s of changes to the archive", seq)
		}
		time.Sleep(time.Millisecond)
		writeRaw(t, filepath.Join(s.archive, fmt.Sprintf("README%d", i)), "not ours\n")
	}
}

// TestCacheRacyDamage damages the newest metadata file at once after the
// Store has read it, within the same tick of the filesystem's clock when
// the machine is fast enough: the change may then leave size, mtime and
// ctime as they were, which only the "racy" rule of scanArchive catches.
// Many rounds, to hit the tick. Filesystems with fine-grained timestamps
// (Linux 6.13 and later hands them out to files whose times were just
// read) rarely give such a tick, so TestCacheRacyRule checks the rule
// itself.
func TestCacheRacyDamage(t *testing.T) {
	for round := range 30 {
		s := open(t, t.TempDir())
		commit(t, s, 1)
		commit(t, s, 2)
		p := s.metaPath(2)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(string(b), `"seq": 2`, `"seq": 7`, 1)
		if _, err := s.History(); err != nil {
			t.Fatal(err)
		}
		writeRaw(t, p, bad) // same size, straight after the read
		if _, err := s.History(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("round %d: History after an in-place change: err %v, want ErrCorrupt", round, err)
		}
		if _, err := s.Archive(cfgN(3), Meta{User: "u"}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("round %d: Archive after an in-place change: err %v, want ErrCorrupt", round, err)
		}
	}
}

// TestCacheRacyRule checks the rule itself: a metadata file whose ctime is
// not older than every other timestamp the scan saw is read again next
// time, not cached; once the filesystem's clock has moved on (seen through
// a later change to the directory), it is cached.
func TestCacheRacyRule(t *testing.T) {
	s := open(t, t.TempDir())
	commit(t, s, 1)
	p := s.metaPath(1)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite in place: the file is now the newest thing in the archive,
	// newer than the directory.
	writeRaw(t, p, string(b))
	cached := func() bool {
		t.Helper()
		if _, err := s.History(); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.metas[1]
		return ok
	}
	for range 3 {
		if cached() {
			t.Fatal("the newest metadata file was cached though a change in its tick would not show")
		}
	}

	// Once the directory changes in a later tick, the file is cached.
	settle(t, s, 1)
}

// TestCacheSeesOtherStore: another Store on the same directory (as
// another shell process would have) archives meanwhile; this Store's
// History, numbering and pruning follow, both below and at ArchiveSize.
func TestCacheSeesOtherStore(t *testing.T) {
	for _, n := range []int{3, ArchiveSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			s1, s2 := open(t, dir), open(t, dir)
			for i := 1; i <= n; i++ {
				commit(t, s1, i)
			}
			if _, err := s1.History(); err != nil {
				t.Fatal(err)
			}
			for i := n + 1; i <= n+3; i++ {
				commit(t, s2, i)
			}
			h1, err := s1.History()
			if err != nil {
				t.Fatal(err)
			}
			h2, err := s2.History()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(h1) != fmt.Sprint(h2) {
				t.Fatalf("the two Stores disagree:\n%v\n%v", h1, h2)
			}
			if e := commit(t, s1, n+4); e.Seq != uint64(n+4) {
				t.Fatalf("Archive after another Store's commits got Seq %d, want %d", e.Seq, n+4)
			}
			for _, s := range []*Store{s1, s2} {
				h, err := s.History()
				if err != nil || len(h) != min(n+4, ArchiveSize) {
					t.Fatalf("History: %d entries, %v", len(h), err)
				}
				for k, e := range h {
					b, _, err := s.Load(k)
					if err != nil || e.Seq != uint64(n+4-k) || string(b) != string(cfgN(n+4-k)) {
						t.Fatalf("rollback %d: Seq %d, %q, %v; want commit %d", k, e.Seq, b, err, n+4-k)
					}
				}
				if _, orphans, err := s.scan(); err != nil || len(orphans) != 0 {
					t.Fatalf("orphans %v, err %v", orphans, err)
				}
			}
		})
	}
}

// TestPruneSeveral: an archive holding more than ArchiveSize entries (say
// restored from elsewhere) is pruned oldest first in one Archive, and a
// crash after the first removal leaves a sound archive.
func TestPruneSeveral(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			s := open(t, t.TempDir())
			for i := 1; i <= ArchiveSize+2; i++ {
				commit(t, s, i)
			}
			// Put back commits 1 and 2: ArchiveSize+2 entries.
			for seq := uint64(1); seq <= 2; seq++ {
				b, err := os.ReadFile(s.metaPath(3))
				if err != nil {
					t.Fatal(err)
				}
				writeRaw(t, s.metaPath(seq), strings.Replace(string(b), `"seq": 3`, fmt.Sprintf(`"seq": %d`, seq), 1))
				c, err := os.ReadFile(s.cfgPath(3))
				if err != nil {
					t.Fatal(err)
				}
				writeRaw(t, s.cfgPath(seq), string(c))
			}
			if h, err := s.History(); err != nil || len(h) != ArchiveSize+2 {
				t.Fatalf("History: %d entries, %v", len(h), err)
			}

			var hits []string
			if crash {
				s.crash = func(step, path string) bool {
					if step == "pruned-meta" {
						hits = append(hits, filepath.Base(path))
						return true
					}
					return false
				}
				if _, err := s.Archive(cfgN(99), Meta{User: "u"}); !errors.Is(err, errCrash) {
					t.Fatalf("Archive: err %v, want the simulated crash", err)
				}
				s.crash = nil
				if fmt.Sprint(hits) != "[000001.json]" {
					t.Fatalf("pruning began with %v, want the oldest", hits)
				}
				h, err := s.History()
				if err != nil || len(h) != ArchiveSize+2 || h[len(h)-1].Seq != 2 {
					t.Fatalf("after a crash mid-prune: %d entries, %v", len(h), err)
				}
			}

			e := commit(t, s, ArchiveSize+3)
			h, err := s.History()
			if err != nil || len(h) != ArchiveSize || h[0] != e || h[len(h)-1].Seq != e.Seq-ArchiveSize+1 {
				t.Fatalf("after pruning several: %d entries, newest %+v, err %v", len(h), h[0], err)
			}
			_, orphans, err := s.scan()
			if err != nil || len(orphans) != 0 {
				t.Fatalf("orphans %v, err %v", orphans, err)
			}
			ents, _ := os.ReadDir(s.archive)
			if len(ents) != 2*ArchiveSize {
				t.Fatalf("the archive directory holds %d files, want %d", len(ents), 2*ArchiveSize)
			}
		})
	}
}

// TestTempsFromElsewhere: temporary files that another process left (it
// died mid-write) are removed by the first write of a Store, by the next
// Archive when they are in the archive, and otherwise within cleanEvery
// writes, though a Store does not look for them on every write.
func TestTempsFromElsewhere(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	main := filepath.Join(dir, tmpPrefix+"running-config-1")
	arch := filepath.Join(dir, archiveName, tmpPrefix+"000001.cfg-2")
	writeRaw(t, main, "half")
	if err := s.WriteRunning([]byte("hostname a\n")); err != nil {
		t.Fatal(err)
	}
	if left := temps(t, s); len(left) != 0 {
		t.Fatalf("the first write of a Store left %v", left)
	}

	writeRaw(t, arch, "half")
	commit(t, s, 1)
	if left := temps(t, s); len(left) != 0 {
		t.Fatalf("Archive left %v", left)
	}

	writeRaw(t, main, "half")
	for i := 0; ; i++ {
		if _, err := os.Stat(main); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i == cleanEvery {
			t.Fatalf("%d writes left %s", i, main)
		}
		if err := s.WriteRunning([]byte("hostname a\n")); err != nil {
			t.Fatal(err)
		}
	}

	// Another Store, as a newly started process, removes them at once.
	writeRaw(t, main, "half")
	if err := open(t, dir).WriteStartup([]byte("hostname a\n")); err != nil {
		t.Fatal(err)
	}
	if left := temps(t, s); len(left) != 0 {
		t.Fatalf("the first write of another Store left %v", left)
	}
}
