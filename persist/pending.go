package persist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const pendingFormat = "mboxsh-pending/1"

// Pending records a `commit confirmed` awaiting confirmation. It is on disk
// so that the rollback happens even if the shell that armed the timer dies:
// any mboxsh process that finds a Pending whose Deadline has passed, or
// whose Owner is no longer alive, must take over (see TakePending).
type Pending struct {
	// Deadline is when the commit is rolled back unless confirmed.
	Deadline time.Time
	// Previous is the configuration text to restore: the running-config
	// before the unconfirmed commit. It is kept here, not only in the
	// archive, so the rollback does not depend on the archive.
	Previous []byte
	// Seq is the archive number of the unconfirmed commit; 0 if unknown.
	Seq     uint64
	User    string
	Comment string
	// Owner is the process that armed the timer and will roll back at
	// Deadline.
	Owner Owner
}

type pendingFile struct {
	Format   string    `json:"format"`
	Deadline time.Time `json:"deadline"`
	Previous []byte    `json:"previous"` // base64: byte-exact, unlike a JSON string
	Seq      uint64    `json:"seq"`
	User     string    `json:"user"`
	Comment  string    `json:"comment"`
	Owner    Owner     `json:"owner"`
}

// SetPending records p, replacing any earlier record.
func (s *Store) SetPending(p Pending) error {
	if p.Deadline.IsZero() {
		return errors.New("persist: set pending commit: no deadline")
	}
	b, err := json.MarshalIndent(pendingFile{
		Format: pendingFormat, Deadline: p.Deadline, Previous: p.Previous, Seq: p.Seq,
		User: p.User, Comment: p.Comment, Owner: p.Owner,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("persist: set pending commit: %w", err)
	}
	return s.writeLocked(pendingName, "pending commit", append(b, '\n'))
}

// Pending returns the pending `commit confirmed`, or nil if there is none.
func (s *Store) Pending() (*Pending, error) {
	p, err := s.readPending()
	if err != nil {
		return nil, fmt.Errorf("persist: read pending commit: %w", err)
	}
	return p, nil
}

// ClearPending removes the pending record; it is not an error if there is
// none. Prefer TakePending when deciding who acts on the record.
func (s *Store) ClearPending() error {
	unlock, err := s.lock(true)
	if err != nil {
		return fmt.Errorf("persist: clear pending commit: %w", err)
	}
	defer unlock()
	if err := removeFile(s.path(pendingName)); err != nil {
		return fmt.Errorf("persist: clear pending commit: %w", err)
	}
	return nil
}

// TakePending removes the pending record and returns it, or returns nil if
// there is none, as one step under the lock. When a confirming `commit` and
// an expiring timer (possibly in another process) race, exactly one of
// them gets the record: the one that does acts on it (confirms, or rolls
// back to Previous), the other does nothing.
//
// A corrupt record is returned as an error wrapping ErrCorrupt and left in
// place.
func (s *Store) TakePending() (*Pending, error) {
	unlock, err := s.lock(true)
	if err != nil {
		return nil, fmt.Errorf("persist: take pending commit: %w", err)
	}
	defer unlock()
	p, err := s.readPending()
	if err != nil || p == nil {
		if err != nil {
			err = fmt.Errorf("persist: take pending commit: %w", err)
		}
		return nil, err
	}
	if err := removeFile(s.path(pendingName)); err != nil {
		return nil, fmt.Errorf("persist: take pending commit: %w", err)
	}
	return p, nil
}

func (s *Store) readPending() (*Pending, error) {
	path := s.path(pendingName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f pendingFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w: not an mboxsh pending record: %v", path, ErrCorrupt, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w: not an mboxsh pending record: trailing data", path, ErrCorrupt)
	}
	if f.Format != pendingFormat {
		return nil, fmt.Errorf("%s: %w: format %q, want %q", path, ErrCorrupt, f.Format, pendingFormat)
	}
	if f.Deadline.IsZero() {
		return nil, fmt.Errorf("%s: %w: no deadline", path, ErrCorrupt)
	}
	return &Pending{
		Deadline: f.Deadline, Previous: f.Previous, Seq: f.Seq,
		User: f.User, Comment: f.Comment, Owner: f.Owner,
	}, nil
}

// Owner identifies a process in a way that survives PID reuse and
// reboots: its PID, the kernel boot ID and the process start time.
type Owner struct {
	PID    int    `json:"pid"`
	BootID string `json:"boot_id"` // /proc/sys/kernel/random/boot_id; "" if unknown
	Start  uint64 `json:"start"`   // start time, clock ticks after boot (/proc/PID/stat field 22); 0 if unknown
}

// Self returns the Owner that describes the calling process.
func Self() Owner {
	pid := os.Getpid()
	start, _, _ := procStat(pid)
	return Owner{PID: pid, BootID: bootID(), Start: start}
}

// Alive reports whether the process o still runs: same boot, the PID
// exists and is not a zombie, and it started when o says. Facts that
// cannot be read (no /proc) are not held against it.
func (o Owner) Alive() bool {
	if o.PID <= 0 {
		return false
	}
	if cur := bootID(); o.BootID != "" && cur != "" && o.BootID != cur {
		return false // rebooted since: every process of that boot is gone
	}
	if err := unix.Kill(o.PID, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	start, state, err := procStat(o.PID)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return o.Start == 0 || start == o.Start
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStat returns the start time and state of process pid from
// /proc/PID/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return start, fields[0][0], nil
}
