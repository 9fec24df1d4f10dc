package persist

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPendingRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	if p, err := s.Pending(); p != nil || err != nil {
		t.Fatalf("Pending on an empty store = %+v, %v", p, err)
	}
	if err := s.ClearPending(); err != nil {
		t.Fatalf("ClearPending with nothing pending: %v", err)
	}
	if p, err := s.TakePending(); p != nil || err != nil {
		t.Fatalf("TakePending with nothing pending = %+v, %v", p, err)
	}
	if err := s.SetPending(Pending{Previous: []byte("x")}); err == nil {
		t.Fatal("SetPending without a deadline succeeded")
	}

	want := Pending{
		Deadline: time.Date(2025, 3, 1, 12, 10, 0, 123456789, time.FixedZone("CET", 3600)),
		// Not valid UTF-8: the record must keep the bytes exactly.
		Previous: []byte("hostname old\n!\ncrypto isakmp key \xff\xfe\"secret\" address 0.0.0.0\n!\n"),
		Seq:      42,
		User:     "admin",
		Comment:  "try new peer",
		Owner:    Self(),
	}
	if err := s.SetPending(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Deadline.Equal(want.Deadline) || !bytes.Equal(got.Previous, want.Previous) {
		t.Fatalf("Pending = %+v, want %+v", got, want)
	}
	got.Deadline = want.Deadline
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Pending = %+v, want %+v", *got, want)
	}
	// A second process (another Store) sees it too.
	if p, err := open(t, s.Dir()).Pending(); err != nil || p == nil || p.Seq != 42 {
		t.Fatalf("Pending via a second Store = %+v, %v", p, err)
	}

	// Replacing extends the deadline.
	want.Deadline = want.Deadline.Add(5 * time.Minute)
	if err := s.SetPending(want); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(); p == nil || !p.Deadline.Equal(want.Deadline) {
		t.Fatalf("after SetPending again: %+v", p)
	}

	taken, err := s.TakePending()
	if err != nil || taken == nil || taken.Seq != 42 {
		t.Fatalf("TakePending = %+v, %v", taken, err)
	}
	if p, err := s.Pending(); p != nil || err != nil {
		t.Fatalf("Pending after TakePending = %+v, %v", p, err)
	}

	if err := s.SetPending(want); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearPending(); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Pending(); p != nil || err != nil {
		t.Fatalf("Pending after ClearPending = %+v, %v", p, err)
	}
	if left := temps(t, s); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestPendingCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       "deadline tomorrow\n",
		"foreign format": `{"format":"other/1","deadline":"2025-03-01T12:00:00Z"}`,
		"no deadline":    `{"format":"mboxsh-pending/1","previous":""}`,
		"unknown field":  `{"format":"mboxsh-pending/1","deadline":"2025-03-01T12:00:00Z","when":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, t.TempDir())
			writeRaw(t, s.path(pendingName), content)
			before := tree(t, s.dir)
			if _, err := s.Pending(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), pendingName) {
				t.Errorf("Pending: err %v, want ErrCorrupt naming %s", err, pendingName)
			}
			if _, err := s.TakePending(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("TakePending: err %v, want ErrCorrupt", err)
			}
			sameTree(t, before, tree(t, s.dir))
			// ClearPending removes even a corrupt record.
			if err := s.ClearPending(); err != nil {
				t.Fatal(err)
			}
			if p, err := s.Pending(); p != nil || err != nil {
				t.Fatalf("after ClearPending: %+v, %v", p, err)
			}
		})
	}
}

// TestTakePendingRace: of many concurrent takers, across Stores, exactly
// one gets the record.
func TestTakePendingRace(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for round := 0; round < 20; round++ {
		if err := s.SetPending(Pending{Deadline: testTime, Previous: []byte("old"), Seq: uint64(round)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for g := 0; g < 8; g++ {
			st := s
			if g%2 == 1 {
				st = open(t, dir)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := st.TakePending()
				if err != nil {
					t.Error(err)
					return
				}
				if p != nil {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("round %d: %d takers got the record, want 1", round, winners)
		}
	}
}

func TestOwner(t *testing.T) {
	me := Self()
	if me.PID != os.Getpid() {
		t.Fatalf("Self().PID = %d", me.PID)
	}
	if me.BootID == "" || me.Start == 0 {
		t.Fatalf("Self() = %+v: no boot ID or start time (is /proc mounted?)", me)
	}
	if !me.Alive() {
		t.Fatal("this process is not Alive")
	}
	for name, o := range map[string]Owner{
		"no pid":         {},
		"other boot":     {PID: me.PID, BootID: "00000000-0000-0000-0000-000000000000", Start: me.Start},
		"reused pid":     {PID: me.PID, BootID: me.BootID, Start: me.Start + 1},
		"no such pid":    {PID: 1 << 30, BootID: me.BootID},
		"exited process": exited(t),
	} {
		if o.Alive() {
			t.Errorf("%s: %+v is Alive", name, o)
		}
	}
}

// exited returns the Owner of a child process that has exited and been
// reaped.
func exited(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := Owner{PID: cmd.Process.Pid, BootID: bootID()}
	o.Start, _, _ = procStat(o.PID)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return o
}
