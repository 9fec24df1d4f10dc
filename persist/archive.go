package persist

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ArchiveSize is how many committed configurations the archive keeps.
const ArchiveSize = 50

// archiveFormat tags every metadata file; a file without it is foreign.
const archiveFormat = "mboxsh-archive/1"

// Meta is what the caller tells about a commit.
type Meta struct {
	Time    time.Time // when; the zero time means now
	User    string
	Comment string // may be empty
}

// Entry is one archived commit.
type Entry struct {
	Meta
	// Seq numbers commits 1, 2, 3, … in commit order; it is never reused,
	// so it names a commit for good, while its position in History (the
	// rollback number) grows with every later commit.
	Seq    uint64
	Size   int64  // bytes of configuration text
	SHA256 string // of the configuration text, lower-case hex
}

// metaFile is the JSON form of an Entry, archive/NNNNNN.json.
type metaFile struct {
	Format  string    `json:"format"`
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Comment string    `json:"comment"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
}

func (s *Store) cfgPath(seq uint64) string {
	return filepath.Join(s.archive, fmt.Sprintf("%06d.cfg", seq))
}

func (s *Store) metaPath(seq uint64) string {
	return filepath.Join(s.archive, fmt.Sprintf("%06d.json", seq))
}

// Archive records cfg as the newest commit and removes the oldest entries
// beyond ArchiveSize. If the existing archive holds corrupt or foreign
// metadata, Archive returns an error wrapping ErrCorrupt and changes
// nothing. An error after the new entry is in place (pruning failed) comes
// with that entry, whose Seq is then non-zero.
func (s *Store) Archive(cfg []byte, m Meta) (Entry, error) {
	unlock, err := s.lock(true)
	if err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	defer unlock()

	entries, orphans, err := s.scan()
	if err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	// The archive is sound: now clean what interrupted writes left.
	if err := s.cleanTemps(); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	for _, p := range orphans {
		if err := removeFile(p); err != nil {
			return Entry{}, fmt.Errorf("persist: archive: %w", err)
		}
	}

	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	sum := sha256.Sum256(cfg)
	e := Entry{Meta: m, Seq: 1, Size: int64(len(cfg)), SHA256: hex.EncodeToString(sum[:])}
	if len(entries) > 0 {
		e.Seq = entries[0].Seq + 1
	}
	mj, err := json.MarshalIndent(metaFile{
		Format: archiveFormat, Seq: e.Seq, Time: e.Time, User: e.User,
		Comment: e.Comment, Size: e.Size, SHA256: e.SHA256,
	}, "", "  ")
	if err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	mj = append(mj, '\n')

	// The configuration first, then the metadata: an entry exists once its
	// metadata does, and a configuration file without metadata is the
	// remains of a crash.
	if err := s.writeFile(s.cfgPath(e.Seq), cfg); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	if s.hit("archived-cfg", s.cfgPath(e.Seq)) {
		return Entry{}, errCrash
	}
	if err := s.writeFile(s.metaPath(e.Seq), mj); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}

	// Prune: metadata first, so a crash in between leaves an orphan
	// configuration (removed next time), never metadata without its text.
	all := append([]Entry{e}, entries...)
	for len(all) > ArchiveSize {
		old := all[len(all)-1]
		if err := removeFile(s.metaPath(old.Seq)); err != nil {
			return e, fmt.Errorf("persist: archive: commit %d archived, pruning commit %d: %w", e.Seq, old.Seq, err)
		}
		if s.hit("pruned-meta", s.metaPath(old.Seq)) {
			return e, errCrash
		}
		if err := removeFile(s.cfgPath(old.Seq)); err != nil {
			return e, fmt.Errorf("persist: archive: commit %d archived, pruning commit %d: %w", e.Seq, old.Seq, err)
		}
		all = all[:len(all)-1]
	}
	return e, nil
}

// History lists the archived commits, newest first: History()[n] is what
// `rollback n` loads, so index 0 is the last commit.
func (s *Store) History() ([]Entry, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, fmt.Errorf("persist: history: %w", err)
	}
	defer unlock()
	entries, _, err := s.scan()
	if err != nil {
		return nil, fmt.Errorf("persist: history: %w", err)
	}
	return entries, nil
}

// Load returns the configuration text of rollback n (0 = the last commit,
// 1 = the one before, …) and its entry. n beyond the archive gives an
// error wrapping os.ErrNotExist; text that does not match its recorded
// size and checksum gives one wrapping ErrCorrupt.
func (s *Store) Load(n int) ([]byte, Entry, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("persist: rollback %d: %w", n, err)
	}
	defer unlock()
	entries, _, err := s.scan()
	if err != nil {
		return nil, Entry{}, fmt.Errorf("persist: rollback %d: %w", n, err)
	}
	if n < 0 || n >= len(entries) {
		held := "the archive is empty"
		if len(entries) > 0 {
			held = fmt.Sprintf("the archive holds rollback 0 to %d", len(entries)-1)
		}
		return nil, Entry{}, fmt.Errorf("persist: rollback %d: %w: %s", n, os.ErrNotExist, held)
	}
	e := entries[n]
	p := s.cfgPath(e.Seq)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("persist: rollback %d: %w", n, err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
		return nil, Entry{}, fmt.Errorf("persist: rollback %d: %s: %w: %d bytes with SHA-256 %x, metadata says %d bytes with %s",
			n, p, ErrCorrupt, len(b), sum, e.Size, e.SHA256)
	}
	return b, e, nil
}

// scan reads the archive's metadata. It returns the entries newest first
// and the configuration files that have no metadata (left by a crash).
// Files whose names are not NNNNNN.cfg or NNNNNN.json are ignored; a
// metadata file that does not parse, or whose configuration file is
// missing, is an error wrapping ErrCorrupt. The caller holds the lock.
func (s *Store) scan() (entries []Entry, orphans []string, err error) {
	ents, err := os.ReadDir(s.archive)
	if err != nil {
		return nil, nil, err
	}
	cfgs := map[uint64]bool{}
	var metas []uint64
	for _, de := range ents {
		seq, ext, ok := parseArchiveName(de.Name())
		if !ok {
			continue
		}
		if !de.Type().IsRegular() {
			return nil, nil, fmt.Errorf("%s: %w: not a regular file", filepath.Join(s.archive, de.Name()), ErrCorrupt)
		}
		if ext == "cfg" {
			cfgs[seq] = true
		} else {
			metas = append(metas, seq)
		}
	}
	for _, seq := range metas {
		e, err := s.readMeta(seq)
		if err != nil {
			return nil, nil, err
		}
		if !cfgs[seq] {
			return nil, nil, fmt.Errorf("%s: %w: its configuration %s is missing",
				s.metaPath(seq), ErrCorrupt, filepath.Base(s.cfgPath(seq)))
		}
		delete(cfgs, seq)
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Seq > entries[j].Seq })
	for seq := range cfgs {
		orphans = append(orphans, s.cfgPath(seq))
	}
	sort.Strings(orphans)
	return entries, orphans, nil
}

// parseArchiveName splits "000042.cfg" into 42 and "cfg". Names that
// persist would not have written give ok false.
func parseArchiveName(name string) (seq uint64, ext string, ok bool) {
	stem, ext, found := strings.Cut(name, ".")
	if !found || (ext != "cfg" && ext != "json") || len(stem) < 6 {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(stem, 10, 64)
	if err != nil || seq == 0 || fmt.Sprintf("%06d", seq) != stem {
		return 0, "", false
	}
	return seq, ext, true
}

func (s *Store) readMeta(seq uint64) (Entry, error) {
	p := s.metaPath(seq)
	b, err := os.ReadFile(p)
	if err != nil {
		return Entry{}, err
	}
	bad := func(format string, args ...any) (Entry, error) {
		return Entry{}, fmt.Errorf("%s: %w: %s", p, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	var m metaFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return bad("not mboxsh archive metadata: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("not mboxsh archive metadata: trailing data")
	}
	switch {
	case m.Format != archiveFormat:
		return bad("format %q, want %q", m.Format, archiveFormat)
	case m.Seq != seq:
		return bad("records commit %d, its name says %d", m.Seq, seq)
	case m.Time.IsZero():
		return bad("no time")
	case m.Size < 0:
		return bad("negative size %d", m.Size)
	case !isSHA256Hex(m.SHA256):
		return bad("bad sha256 %q", m.SHA256)
	}
	return Entry{
		Meta: Meta{Time: m.Time, User: m.User, Comment: m.Comment},
		Seq:  m.Seq, Size: m.Size, SHA256: m.SHA256,
	}, nil
}

func isSHA256Hex(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
