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
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
//
// On disk the order is: the configuration file (its bytes and its name
// durable), then the metadata file (likewise), which is the moment the
// entry exists; then the metadata of the pruned entries, made durable
// before their configuration files go. Each step is ordered after the
// previous one by an fsync, so a crash at any point leaves the old archive
// or the new one, possibly with configuration files that have no metadata
// (orphans), which the next Archive removes; never metadata without its
// configuration.
func (s *Store) Archive(cfg []byte, m Meta) (e Entry, err error) {
	unlock, err := s.lock(true)
	if err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	defer unlock()
	defer func() { s.wrote(err) }()
	return s.archiveLocked(cfg, m, true)
}

// ErrRunningNotSaved marks an error of Commit that left the running-config
// as it was (the archive part may still have succeeded).
var ErrRunningNotSaved = errors.New("persist: running-config not saved")

// Commit stores cfg as the running-config and archives it as the newest
// commit: what WriteRunning and then Archive do, under one lock, with the
// running-config written and flushed while the archive entry is, in about
// the time of the slower of the two. The two parts succeed or fail
// independently, as the two calls would; a failure of the running-config
// part wraps ErrRunningNotSaved.
func (s *Store) Commit(cfg []byte, m Meta) (e Entry, err error) {
	unlock, err := s.lock(true)
	if err != nil {
		return Entry{}, fmt.Errorf("persist: commit: %w", err)
	}
	defer unlock()
	// Temporary files are cleaned first: the archive's scan must not
	// remove the one the running-config is being written to meanwhile.
	if err := s.cleanTempsIfDue(false); err != nil {
		return Entry{}, fmt.Errorf("persist: commit: %w", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.writeFile(s.path(runningName), cfg) }()
	e, aerr := s.archiveLocked(cfg, m, false)
	s.wrote(aerr)
	rerr := <-runErr
	s.wrote(rerr)
	if rerr != nil {
		rerr = fmt.Errorf("%w: %w", ErrRunningNotSaved, rerr)
	}
	return e, errors.Join(rerr, aerr)
}

// archiveLocked is Archive's work; the caller holds the exclusive lock. With
// clean false it leaves temporary files alone (a write may be in progress
// beside it): they are removed by a later write instead.
func (s *Store) archiveLocked(cfg []byte, m Meta, clean bool) (e Entry, err error) {
	sc, err := s.scanArchive()
	if err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	entries := sc.entries
	// The archive is sound: now clean what interrupted writes left.
	if !clean && sc.temps {
		s.mu.Lock()
		s.tidy = false // the next write cleans them
		s.mu.Unlock()
	} else if err := s.cleanTempsIfDue(sc.temps); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	for _, p := range sc.orphans {
		if err := removeFile(p); err != nil {
			return Entry{}, fmt.Errorf("persist: archive: %w", err)
		}
	}

	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	sum := sha256.Sum256(cfg)
	e = Entry{Meta: m, Seq: 1, Size: int64(len(cfg)), SHA256: hex.EncodeToString(sum[:])}
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
	// remains of a crash. writeFile fsyncs the directory after the rename,
	// so the configuration's name is on disk before the metadata's can be.
	if err := s.writeFile(s.cfgPath(e.Seq), cfg); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}
	if s.hit("archived-cfg", s.cfgPath(e.Seq)) {
		return Entry{}, errCrash
	}
	// And the metadata's name is on disk before any pruning can be: a
	// crash never loses an old entry without keeping the new one.
	if err := s.writeFile(s.metaPath(e.Seq), mj); err != nil {
		return Entry{}, fmt.Errorf("persist: archive: %w", err)
	}

	// Prune: metadata first, so a crash in between leaves an orphan
	// configuration (removed next time), never metadata without its text.
	// One fsync of the directory after all the metadata removals orders
	// them before the configuration removals; those need none of their
	// own, since one that a crash undoes is an orphan.
	pruned := entries[min(len(entries), ArchiveSize-1):]
	for i := len(pruned) - 1; i >= 0; i-- { // oldest first
		old := pruned[i]
		if err := removeName(s.metaPath(old.Seq)); err != nil {
			return e, fmt.Errorf("persist: archive: commit %d archived, pruning commit %d: %w", e.Seq, old.Seq, err)
		}
		if s.hit("pruned-meta", s.metaPath(old.Seq)) {
			return e, errCrash
		}
	}
	if len(pruned) == 0 {
		return e, nil
	}
	if err := syncDir(s.archive); err != nil {
		return e, fmt.Errorf("persist: archive: commit %d archived, pruning: %w", e.Seq, err)
	}
	for _, old := range pruned {
		if err := removeName(s.cfgPath(old.Seq)); err != nil {
			return e, fmt.Errorf("persist: archive: commit %d archived, pruning commit %d: %w", e.Seq, old.Seq, err)
		}
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
	sc, err := s.scanArchive()
	return sc.entries, sc.orphans, err
}

// archiveScan is what scanArchive finds.
type archiveScan struct {
	entries []Entry  // newest first
	orphans []string // configuration files without metadata
	temps   bool     // temporary files are present
}

// fileID is what stat tells of a file's identity and version. The kernel
// sets ctime to its clock on every change to the file, content or inode,
// and no program can set it to another value (utimensat(2) sets it to
// now): see scanArchive for why that makes the cache safe.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// cachedMeta is a metadata file as scanArchive last validated it.
type cachedMeta struct {
	id    fileID
	entry Entry
}

func statID(st *unix.Stat_t) fileID {
	return fileID{
		dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

// fstatat is lstat(2) of name in the directory open as dirfd: no path to
// resolve, which makes it cheaper than os.Lstat.
func fstatat(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return st, err
		}
	}
}

// scanArchive is scan, plus whether the archive directory holds temporary
// files.
//
// Parsing every metadata file on every call would cost more than all of
// an Archive's other work but its fsyncs, so the Store keeps the entries
// it has validated, each with the identity (device, inode, size, mtime,
// ctime) its file had when read, and reads a file again only when that
// identity changed. Every call still lists the directory and stats every
// metadata file, so entries that appear (written by another Store or
// process), vanish or are replaced are seen at once; only the decoding is
// saved.
//
// A file modified in place keeps its inode, and possibly its size; what
// changes is its ctime, but to the kernel's clock at its granularity (a
// tick of a few milliseconds on many filesystems, a second or two on some)
// so a second change within the tick of the first can leave the identity
// as it was. Hence an entry is kept only when its file's ctime is older
// than a timestamp the same filesystem's clock gave before the read (the
// newest ctime among the directory and the metadata files just stat'ed):
// every later change to the file then gets a ctime at least that new, so
// different from the one recorded (unless the system clock is set back
// meanwhile and a change lands on that very nanosecond). Files changed too
// recently, like the one the previous Archive wrote, are simply read again
// next time. This is the "racy clean" rule of git's index, with ctime,
// which unlike mtime cannot be set by a program.
//
// The caller holds the lock, shared or exclusive.
func (s *Store) scanArchive() (archiveScan, error) {
	d, err := os.Open(s.archive)
	if err != nil {
		return archiveScan{}, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return archiveScan{}, err
	}
	// Name order, as os.ReadDir gives: which file an error names should
	// not depend on the directory's internal order.
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	dirfd := int(d.Fd())
	var dst unix.Stat_t
	for {
		if err = unix.Fstat(dirfd, &dst); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return archiveScan{}, fmt.Errorf("stat %s: %w", s.archive, err)
	}

	var sc archiveScan
	type metaStat struct {
		seq uint64
		id  fileID
	}
	var metas []metaStat
	cfgs := map[uint64]bool{}
	// horizon is the newest ctime seen: the filesystem's clock read at or
	// before now, so before any of the reads below.
	horizon := dst.Ctim.Nano()
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) && de.Type().IsRegular() {
			sc.temps = true
			continue
		}
		seq, ext, ok := parseArchiveName(name)
		if !ok {
			continue
		}
		if !de.Type().IsRegular() {
			return archiveScan{}, s.notRegular(name)
		}
		if ext == "cfg" {
			cfgs[seq] = true
			continue
		}
		st, err := fstatat(dirfd, name)
		if err != nil {
			return archiveScan{}, &os.PathError{Op: "lstat", Path: filepath.Join(s.archive, name), Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return archiveScan{}, s.notRegular(name)
		}
		id := statID(&st)
		horizon = max(horizon, id.ctime)
		metas = append(metas, metaStat{seq: seq, id: id})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[uint64]cachedMeta, len(metas))
	for _, m := range metas {
		c, hit := s.metas[m.seq]
		e := c.entry
		if !hit || c.id != m.id {
			if e, err = s.readMeta(m.seq); err != nil {
				return archiveScan{}, err
			}
		}
		if !cfgs[m.seq] {
			return archiveScan{}, fmt.Errorf("%s: %w: its configuration %s is missing",
				s.metaPath(m.seq), ErrCorrupt, filepath.Base(s.cfgPath(m.seq)))
		}
		delete(cfgs, m.seq)
		if m.id.ctime < horizon {
			keep[m.seq] = cachedMeta{id: m.id, entry: e}
		}
		sc.entries = append(sc.entries, e)
	}
	// Only now that the whole archive is sound: a failed scan leaves the
	// cache as it was, which is still right for every file it describes.
	s.metas = keep

	sort.Slice(sc.entries, func(i, j int) bool { return sc.entries[i].Seq > sc.entries[j].Seq })
	for seq := range cfgs {
		sc.orphans = append(sc.orphans, s.cfgPath(seq))
	}
	sort.Strings(sc.orphans)
	return sc, nil
}

func (s *Store) notRegular(name string) error {
	return fmt.Errorf("%s: %w: not a regular file", filepath.Join(s.archive, name), ErrCorrupt)
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
