package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// errCrash is returned by a write that a test's crash hook stopped.
var errCrash = errors.New("simulated crash")

// hit reports whether the test crash hook wants the process to "die" at
// step while writing path.
func (s *Store) hit(step, path string) bool {
	return s.crash != nil && s.crash(step, path)
}

// writeFile replaces path with data atomically: write a temporary file in
// the same directory, fsync it, rename it over path, fsync the directory.
// The file ends up with mode 0600 whatever the umask. The caller holds the
// exclusive lock.
//
// Crash steps, in order: "created", "half-written", "written", "synced",
// "closed", "renamed".
func (s *Store) writeFile(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, tmpPrefix+base+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// On an ordinary error the temporary file is removed; a simulated
	// crash leaves it behind, as a real one would.
	closed, keepTmp := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if err != nil && !keepTmp {
			os.Remove(tmp)
		}
	}()
	crash := func(step string) bool {
		keepTmp = s.hit(step, path)
		return keepTmp
	}

	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	if crash("created") {
		return errCrash
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		return err
	}
	if crash("half-written") {
		return errCrash
	}
	if _, err := f.Write(data[half:]); err != nil {
		return err
	}
	if crash("written") {
		return errCrash
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if crash("synced") {
		return errCrash
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if crash("closed") {
		return errCrash
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if crash("renamed") {
		return errCrash
	}
	keepTmp = true // renamed: the temporary name is gone
	return syncDir(dir)
}

// removeFile removes path if present and fsyncs its directory.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

// removeName removes path if present, without the fsync: the removal may
// not survive a crash until the caller fsyncs the directory.
func removeName(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir makes the directory entries of d durable (new names, renames,
// removals).
func syncDir(d string) error {
	f, err := os.Open(d)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", d, err)
	}
	return nil
}

// lock takes the store's advisory lock, exclusive or shared, and returns
// the function that releases it. The lock is a flock(2) on its own open
// file description, so it excludes other goroutines of this process as
// well as other processes; it is released if the process dies.
func (s *Store) lock(exclusive bool) (unlock func(), err error) {
	f, err := s.openLock()
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	// Closing the descriptor releases the lock.
	return func() { f.Close() }, nil
}

// openLock opens the lock file, creating it with mode 0600 whatever the
// umask.
func (s *Store) openLock() (*os.File, error) {
	f, err := os.OpenFile(s.path(lockName), os.O_RDONLY|os.O_CREATE, fileMode)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().Perm() != fileMode {
		err = f.Chmod(fileMode)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
