package persist

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

// checkArchive verifies that the archive holds the newest min(total,
// ArchiveSize) of total commits, numbered without gaps, every one loadable,
// and no leftovers.
func checkArchive(t *testing.T, s *Store, total int) {
	t.Helper()
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if want := min(total, ArchiveSize); len(h) != want {
		t.Fatalf("History has %d entries after %d commits, want %d", len(h), total, want)
	}
	for n, e := range h {
		if e.Seq != uint64(total-n) {
			t.Fatalf("History()[%d].Seq = %d, want %d", n, e.Seq, total-n)
		}
		b, _, err := s.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("hostname "+e.User+"\n")) {
			t.Fatalf("rollback %d holds %q, not the config of %s", n, b, e.User)
		}
	}
	_, orphans, err := s.scan()
	if err != nil || len(orphans) != 0 {
		t.Fatalf("orphans %v, err %v", orphans, err)
	}
}

// TestConcurrentWriters runs writers and readers in goroutines, some
// sharing a Store and some with their own (as separate shells would).
// Run with -race.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	shared := open(t, dir)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		s := shared
		if w%2 == 1 {
			s = open(t, dir)
		}
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for i := 0; i < each; i++ {
				user := fmt.Sprintf("w%d-%d", w, i)
				cfg := []byte("hostname " + user + "\n!\n")
				if err := s.WriteRunning(cfg); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Archive(cfg, Meta{User: user}); err != nil {
					t.Error(err)
					return
				}
				if err := s.WriteStartup(cfg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() { // reader: never sees a torn or inconsistent state
			defer wg.Done()
			for i := 0; i < each; i++ {
				if b, err := s.ReadRunning(); err == nil && !bytes.HasPrefix(b, []byte("hostname w")) {
					t.Errorf("torn running-config %q", b)
				}
				h, err := s.History()
				if err != nil {
					t.Error(err)
					return
				}
				if len(h) > 0 {
					if _, _, err := s.Load(len(h) / 2); err != nil {
						// A commit between History and Load may prune the
						// entry only if the archive was full.
						if len(h) < ArchiveSize {
							t.Error(err)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkArchive(t, shared, writers*each)
	if left := temps(t, shared); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	checkModes(t, dir, 3)
}

// TestConcurrentProcesses archives from several processes at once (this
// test binary re-executed), which is what the flock is for.
func TestConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("PERSIST_TEST_CHILD_DIR"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		id := os.Getenv("PERSIST_TEST_CHILD_ID")
		n, _ := strconv.Atoi(os.Getenv("PERSIST_TEST_CHILD_N"))
		for i := 0; i < n; i++ {
			user := fmt.Sprintf("p%s-%d", id, i)
			if _, err := s.Archive([]byte("hostname "+user+"\n"), Meta{User: user}); err != nil {
				t.Fatal(err)
			}
		}
		return
	}

	dir := t.TempDir()
	const procs, each = 4, 15
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			"PERSIST_TEST_CHILD_DIR="+dir,
			"PERSIST_TEST_CHILD_ID="+strconv.Itoa(p),
			"PERSIST_TEST_CHILD_N="+strconv.Itoa(each))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child %d output:\n%s", p, out.String())
			}
		})
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
	if t.Failed() {
		return
	}
	s := open(t, dir)
	checkArchive(t, s, procs*each)
	// Every process's commits are there, in each process's own order.
	h, _ := s.History()
	last := map[byte]int{}
	for n := len(h) - 1; n >= 0; n-- {
		var p byte
		var i int
		if _, err := fmt.Sscanf(h[n].User, "p%c-%d", &p, &i); err != nil {
			t.Fatalf("entry %d: user %q", n, h[n].User)
		}
		if prev, ok := last[p]; ok && i <= prev {
			t.Fatalf("process %c: commit %d archived after %d", p, i, prev)
		}
		last[p] = i
	}
}
