package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCPUProfileHook: MBOXSH_CPUPROFILE makes the binary write a CPU
// profile (pprof's format: a gzipped protocol buffer), private to its
// owner.
func TestCPUProfileHook(t *testing.T) {
	b := newBox(t)
	path := filepath.Join(t.TempDir(), "cpu.prof")
	b.env = append(b.env, "MBOXSH_CPUPROFILE="+path)
	b.ok("", "-c", "show running-config")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Mode().Perm() != 0o600 {
		t.Errorf("profile mode %v, want 0600", st.Mode().Perm())
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not a pprof profile: %v", err)
	}
	if n, err := io.Copy(io.Discard, z); err != nil || n == 0 {
		t.Fatalf("profile: %d bytes, %v", n, err)
	}
}
