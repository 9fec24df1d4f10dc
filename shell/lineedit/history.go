package lineedit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
)

// DefaultHistorySize is the number of entries kept when NewHistory is given
// max <= 0.
const DefaultHistorySize = 500

// History is a command history, optionally persisted to a file.
//
// The file holds one command per line, oldest first, and is created with
// mode 0600 in a directory created with mode 0700 (an existing file with a
// wider mode is narrowed to 0600 when loaded). Add appends a line to the
// file; when the file grows beyond twice the maximum it is rewritten
// (atomically, by rename) with its newest max lines. Appending means two
// sessions of the same user interleave their lines instead of overwriting
// each other's.
//
// A History is safe for concurrent use.
type History struct {
	mu        sync.Mutex
	path      string
	max       int
	entries   []string
	fileLines int
	filter    func(line string) (string, bool)
	err       error
}

// NewHistory returns a history of at most max entries (DefaultHistorySize
// if max <= 0) persisted at path, loading the file if it exists. path ""
// keeps the history in memory only.
func NewHistory(path string, max int) (*History, error) {
	if max <= 0 {
		max = DefaultHistorySize
	}
	h := &History{path: path, max: max}
	if path == "" {
		return h, nil
	}
	lines, err := readHistoryFile(path)
	if err != nil {
		return nil, err
	}
	h.fileLines = len(lines)
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	h.entries = lines
	return h, nil
}

// readHistoryFile returns the non-blank lines of path (none if it does not
// exist), narrowing its mode to 0600 if needed.
func readHistoryFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("history: %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	var lines []string
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
		if err != nil {
			break
		}
	}
	return lines, nil
}

// SetFilter installs a function applied to every line before it is stored:
// it returns the text to store (for instance with a secret replaced) and
// whether to store it at all.
func (h *History) SetFilter(f func(line string) (stored string, keep bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.filter = f
}

// Path returns the history file ("" for memory only).
func (h *History) Path() string { return h.path }

// Max returns the maximum number of entries.
func (h *History) Max() int { return h.max }

// Entries returns a copy of the entries, oldest first.
func (h *History) Entries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.entries...)
}

// Len returns the number of entries.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// Err returns the last error writing the history file, if any (the Editor
// adds lines itself and does not fail ReadLine because of it).
func (h *History) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Add appends line unless it is blank, filtered out, or equal to the newest
// entry, and persists it. Control characters are replaced by spaces.
func (h *History) Add(line string) error {
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, line)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.filter != nil {
		var keep bool
		if line, keep = h.filter(line); !keep {
			return nil
		}
	}
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if n := len(h.entries); n > 0 && h.entries[n-1] == line {
		return nil
	}
	h.entries = append(h.entries, line)
	if len(h.entries) > h.max {
		h.entries = append([]string(nil), h.entries[len(h.entries)-h.max:]...)
	}
	if h.path == "" {
		return nil
	}
	h.err = h.appendFile(line)
	return h.err
}

func (h *History) appendFile(line string) error {
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, werr := f.WriteString(line + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	h.fileLines++
	if h.fileLines > 2*h.max {
		return h.compact()
	}
	return nil
}

// compact rewrites the file with its newest max lines (including lines
// other sessions appended).
func (h *History) compact() error {
	lines, err := readHistoryFile(h.path)
	if err != nil {
		return err
	}
	if len(lines) > h.max {
		lines = lines[len(lines)-h.max:]
	}
	tmp, err := os.CreateTemp(filepath.Dir(h.path), "."+filepath.Base(h.path)+".*")
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, werr := tmp.WriteString(b.String())
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.Rename(tmp.Name(), h.path); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	h.fileLines = len(lines)
	return nil
}
