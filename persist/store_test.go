package persist

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tree maps every path under dir (relative) to its mode and content, so a
// test can prove an operation changed nothing.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if w, ok := after[k]; !ok {
			t.Errorf("%s vanished", k)
		} else if v != w {
			t.Errorf("%s changed:\n  before %q\n  after  %q", k, v, w)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}

// temps lists the temporary files in the store.
func temps(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, d := range []string{s.dir, s.archive} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

func TestStartupRunningRoundTrip(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state", "nested"))

	if _, err := s.ReadStartup(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadStartup on empty store: err %v, want ErrNotExist", err)
	}
	if _, err := s.ReadRunning(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadRunning on empty store: err %v, want ErrNotExist", err)
	}
	for _, cfg := range []string{"hostname a\n!\n", "", "hostname b\n!\ninterface eth0\n ip address 10.0.0.1/24\n!\n"} {
		if err := s.WriteStartup([]byte(cfg)); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteRunning([]byte(cfg + "!running\n")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ReadStartup(); err != nil || string(got) != cfg {
			t.Fatalf("ReadStartup = %q, %v; want %q", got, err, cfg)
		}
		if got, err := s.ReadRunning(); err != nil || string(got) != cfg+"!running\n" {
			t.Fatalf("ReadRunning = %q, %v; want %q", got, err, cfg+"!running\n")
		}
	}
	// A second Store on the same directory sees the same files.
	if got, err := open(t, s.Dir()).ReadStartup(); err != nil || !bytes.Contains(got, []byte("hostname b")) {
		t.Fatalf("second Store: ReadStartup = %q, %v", got, err)
	}
	if tt := temps(t, s); len(tt) != 0 {
		t.Fatalf("temporary files left: %v", tt)
	}
}

func TestOpenRejectsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}

// TestModes checks 0700 directories and 0600 files under a permissive and a
// restrictive umask, and that Open tightens what is looser. The umask is
// process-wide: this test must not run in parallel.
func TestModes(t *testing.T) {
	for _, mask := range []int{0, 0o022, 0o277} {
		dir := filepath.Join(t.TempDir(), "state")
		old := syscall.Umask(mask)
		func() {
			defer syscall.Umask(old)
			s := open(t, dir)
			if err := s.WriteStartup([]byte("hostname x\n")); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteRunning([]byte("hostname x\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Archive([]byte("hostname x\n"), Meta{User: "u"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetPending(Pending{Deadline: testTime, Previous: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			checkModes(t, dir, 5)
		}()
	}

	// Loose leftovers from elsewhere are tightened by Open.
	dir := filepath.Join(t.TempDir(), "state")
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	if err := os.MkdirAll(filepath.Join(dir, "archive"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"startup-config", "running-config", "lock", "archive/000001.cfg", "stray"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("psk secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "stray"), 0o666); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	checkModes(t, dir, 5)
}

// checkModes asserts every directory under dir is 0700 and every file 0600,
// and that there are at least n files.
func checkModes(t *testing.T, dir string, n int) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fileMode
		if d.IsDir() {
			want = dirMode
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < n {
		t.Errorf("%d files under %s, want at least %d", files, dir, n)
	}
}

var writeSteps = []string{"created", "half-written", "written", "synced", "closed", "renamed"}

// TestCrashDuringWrite stops a write at every step, as a crash would, and
// proves the target holds exactly the old or the new content, that reads
// ignore the leftovers and that the next write removes them.
func TestCrashDuringWrite(t *testing.T) {
	oldCfg := []byte("hostname old\n!\n" + strings.Repeat("interface eth0\n!\n", 100))
	newCfg := []byte("hostname new\n!\n" + strings.Repeat("interface eth1\n!\n", 300))
	files := []struct {
		name  string
		write func(*Store, []byte) error
		read  func(*Store) ([]byte, error)
	}{
		{"startup-config", (*Store).WriteStartup, (*Store).ReadStartup},
		{"running-config", (*Store).WriteRunning, (*Store).ReadRunning},
	}
	for _, f := range files {
		for _, step := range writeSteps {
			t.Run(f.name+"/"+step, func(t *testing.T) {
				s := open(t, t.TempDir())
				if err := f.write(s, oldCfg); err != nil {
					t.Fatal(err)
				}
				hits := 0
				s.crash = func(st, path string) bool {
					if st == step && filepath.Base(path) == f.name {
						hits++
						return true
					}
					return false
				}
				if err := f.write(s, newCfg); !errors.Is(err, errCrash) {
					t.Fatalf("write with crash at %s: err %v, want the simulated crash", step, err)
				}
				if hits != 1 {
					t.Fatalf("crash hook hit %d times at %s", hits, step)
				}
				s.crash = nil

				want := oldCfg
				if step == "renamed" {
					want = newCfg // renamed, only the directory fsync was missing
				}
				got, err := f.read(s)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("after crash at %s: read %d bytes, want the %d bytes of the %s content",
						step, len(got), len(want), map[bool]string{true: "new", false: "old"}[step == "renamed"])
				}
				// Also read the file directly: no torn content under the name.
				raw, err := os.ReadFile(filepath.Join(s.dir, f.name))
				if err != nil || !bytes.Equal(raw, want) {
					t.Fatalf("%s on disk is neither old nor new (%d bytes, %v)", f.name, len(raw), err)
				}
				left := temps(t, s)
				if step != "renamed" && len(left) != 1 {
					t.Fatalf("crash at %s left temporary files %v, want exactly one", step, left)
				}

				// The next write, to any file, cleans up.
				third := []byte("hostname third\n")
				if err := s.WriteStartup(third); err != nil {
					t.Fatal(err)
				}
				if left := temps(t, s); len(left) != 0 {
					t.Fatalf("temporary files survive the next write: %v", left)
				}
				if got, _ := s.ReadStartup(); !bytes.Equal(got, third) {
					t.Fatalf("ReadStartup after recovery = %q", got)
				}
				checkModes(t, s.dir, 2)
			})
		}
	}
}

// TestWriteErrorCleansUp makes the rename fail for real (the target is a
// non-empty directory) and checks that nothing is left behind.
func TestWriteErrorCleansUp(t *testing.T) {
	s := open(t, t.TempDir())
	if err := os.MkdirAll(filepath.Join(s.dir, "startup-config", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := s.WriteStartup([]byte("hostname a\n"))
	if err == nil {
		t.Fatal("WriteStartup over a directory succeeded")
	}
	if !strings.Contains(err.Error(), "startup-config") {
		t.Errorf("error does not name the file: %v", err)
	}
	if left := temps(t, s); len(left) != 0 {
		t.Fatalf("temporary files left after a failed write: %v", left)
	}
}
