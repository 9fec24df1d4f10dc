// Package persist is mboxsh's on-disk store: the startup-config, the
// running-config last committed, an archive of the last committed configs
// (for `rollback N` and the commit log) and the record of a pending
// `commit confirmed`.
//
// Layout of the state directory (0700, every file 0600):
//
//	lock              flock(2) target; never renamed
//	startup-config    configuration text loaded at boot
//	running-config    configuration text of the last commit
//	pending.json      pending `commit confirmed`, absent when none
//	archive/000042.cfg   configuration text of commit 42
//	archive/000042.json  its metadata (time, user, comment, size, SHA-256)
//
// persist stores and returns bytes; it does not parse configurations.
// Every write is atomic (temporary file, fsync, rename, fsync of the
// directory), so a crash leaves the old or the new file, never a torn one.
// Writers take an exclusive flock on `lock`, multi-file readers a shared
// one, so several shell processes may use one directory at once.
package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// File and directory names inside the state directory.
const (
	startupName = "startup-config"
	runningName = "running-config"
	pendingName = "pending.json"
	lockName    = "lock"
	archiveName = "archive"

	// tmpPrefix starts the name of every temporary file. Files with this
	// prefix are left by an interrupted write: reads ignore them and a
	// later write removes them (see cleanTempsIfDue).
	tmpPrefix = ".tmp-"
)

// cleanEvery is how many writes a Store makes at most between two
// removals of temporary files when it has no sign that any exist.
const cleanEvery = 32

const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// ErrCorrupt is wrapped by the errors returned for a file that persist
// wrote in a known format but that does not parse or does not match its
// checksum, and for foreign files that take the place of persist's own.
var ErrCorrupt = errors.New("corrupt or foreign file")

// Store is a state directory. Its methods may be called from several
// goroutines and several processes at once.
type Store struct {
	dir     string
	archive string

	// crash, when set, is called at each step of a write; returning true
	// makes the write stop there as if the process had died: no cleanup,
	// files closed. Tests use it to prove crash safety.
	crash func(step, path string) bool

	// mu guards the fields below. The flock does not: it orders
	// processes and goroutines on disk, but it is invisible to Go's
	// memory model, and readers holding the shared lock run at once.
	// mu is only ever taken with the flock already held, never the
	// other way round.
	mu sync.Mutex
	// metas caches validated archive metadata by commit number; see scan.
	metas map[uint64]cachedMeta
	// tidy is true once this Store has removed the temporary files and
	// none of its writes has failed since; sinceClean counts its writes
	// since it last removed them. See cleanTempsIfDue.
	tidy       bool
	sinceClean int
}

// Open opens the state directory dir, creating it (mode 0700) and its
// archive subdirectory when missing. Existing files and directories that
// are more permissive than 0600 (files) or 0700 (directories) are
// tightened.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, archive: filepath.Join(dir, archiveName)}
	for _, d := range []string{s.dir, s.archive} {
		if err := ensureDir(d); err != nil {
			return nil, fmt.Errorf("persist: open %s: %w", dir, err)
		}
		if err := tightenFiles(d); err != nil {
			return nil, fmt.Errorf("persist: open %s: %w", dir, err)
		}
	}
	// Create the lock file now so that a reader never needs to.
	f, err := s.openLock()
	if err != nil {
		return nil, fmt.Errorf("persist: open %s: %w", dir, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("persist: open %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// ensureDir creates d with mode 0700, or sets an existing d to 0700.
func ensureDir(d string) error {
	if err := os.Mkdir(d, dirMode); err != nil && !errors.Is(err, os.ErrExist) {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// A parent is missing: create it too.
		if err := os.MkdirAll(d, dirMode); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", d)
	}
	// Chmod rather than trust the umask, which may remove bits we need as
	// well as add none.
	if fi.Mode().Perm() != dirMode {
		if err := os.Chmod(d, dirMode); err != nil {
			return err
		}
	}
	return nil
}

// tightenFiles sets every regular file directly in d that is readable or
// writable by group or others to 0600: they may hold pre-shared keys.
func tightenFiles(d string) error {
	ents, err := os.ReadDir(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(filepath.Join(d, e.Name()), fileMode); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadStartup returns the startup-config. When there is none the error
// wraps os.ErrNotExist.
func (s *Store) ReadStartup() ([]byte, error) { return s.readFile(startupName, "startup-config") }

// WriteStartup replaces the startup-config atomically.
func (s *Store) WriteStartup(cfg []byte) error {
	return s.writeLocked(startupName, "startup-config", cfg)
}

// ReadRunning returns the running-config last written by WriteRunning, that
// is the configuration the last commit applied. When there is none the
// error wraps os.ErrNotExist.
func (s *Store) ReadRunning() ([]byte, error) { return s.readFile(runningName, "running-config") }

// WriteRunning replaces the running-config atomically.
func (s *Store) WriteRunning(cfg []byte) error {
	return s.writeLocked(runningName, "running-config", cfg)
}

func (s *Store) readFile(name, what string) ([]byte, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return nil, fmt.Errorf("persist: read %s: %w", what, err)
	}
	return b, nil
}

func (s *Store) writeLocked(name, what string, data []byte) (err error) {
	unlock, err := s.lock(true)
	if err != nil {
		return fmt.Errorf("persist: write %s: %w", what, err)
	}
	defer unlock()
	defer func() { s.wrote(err) }()
	if err := s.cleanTempsIfDue(false); err != nil {
		return fmt.Errorf("persist: write %s: %w", what, err)
	}
	if err := s.writeFile(s.path(name), data); err != nil {
		return fmt.Errorf("persist: write %s: %w", what, err)
	}
	return nil
}

// cleanTempsIfDue runs cleanTemps when there may be temporary files to
// remove: on this Store's first write, after one of its writes failed (it
// may have left its temporary file, as a crash does), when the caller saw
// some (seen), and otherwise every cleanEvery writes, rather than reading
// both directories on every write: a temporary file is garbage, never
// mistaken for data (reads ignore the prefix, and nothing renames a file
// it did not create this very write), so it does no harm while it waits,
// and it is rare. One left by another process
// that died is removed by the first write of the next process to open the
// directory, by an Archive (whose scan sees those in the archive), or
// within cleanEvery writes of any live Store. The caller holds the
// exclusive lock.
func (s *Store) cleanTempsIfDue(seen bool) error {
	s.mu.Lock()
	due := seen || !s.tidy || s.sinceClean >= cleanEvery
	s.mu.Unlock()
	if !due {
		return nil
	}
	if err := s.cleanTemps(); err != nil {
		return err
	}
	s.mu.Lock()
	s.tidy, s.sinceClean = true, 0
	s.mu.Unlock()
	return nil
}

// wrote counts a write of this Store, and notes if it failed: a failed
// write may leave its temporary file behind.
func (s *Store) wrote(err error) {
	s.mu.Lock()
	s.sinceClean++
	if err != nil {
		s.tidy = false
	}
	s.mu.Unlock()
}

// cleanTemps removes the temporary files left by interrupted writes. The
// caller holds the exclusive lock, so no write is in progress.
func (s *Store) cleanTemps() error {
	for _, d := range []string{s.dir, s.archive} {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		removed := false
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
				continue
			}
			if err := os.Remove(filepath.Join(d, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			removed = true
		}
		if removed {
			if err := syncDir(d); err != nil {
				return err
			}
		}
	}
	return nil
}
