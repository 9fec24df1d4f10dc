package vmlab

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestTestTimeout(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"-test.paniconexit0", "-test.timeout=10m0s"}, 10 * time.Minute},
		{[]string{"-test.timeout", "30s", "-test.v"}, 30 * time.Second},
		{[]string{"--test.timeout=1h"}, time.Hour},
		{[]string{"-test.v"}, 0},
		{[]string{"-test.timeout=0s"}, 0},
	} {
		if got := testTimeout(c.args); got != c.want {
			t.Errorf("testTimeout(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

func TestQEMUEscape(t *testing.T) {
	if got := qemuEscape("/tmp/a,b"); got != "/tmp/a,,b" {
		t.Errorf("qemuEscape = %q", got)
	}
}

func TestSameWriter(t *testing.T) {
	var a, b bytes.Buffer
	type sliceWriter []byte // not comparable
	w := writerFunc(func(p []byte) (int, error) { return len(p), nil })
	for _, c := range []struct {
		x, y io.Writer
		want bool
	}{
		{&a, &a, true}, {&a, &b, false}, {nil, nil, false}, {&a, nil, false}, {w, w, false},
	} {
		if got := sameWriter(c.x, c.y); got != c.want {
			t.Errorf("sameWriter(%T, %T) = %v", c.x, c.y, got)
		}
	}
	_ = sliceWriter(nil)
}

// TestCPIO checks the newc writer against the format's invariants: 110-byte
// headers, 4-byte alignment, the trailer.
func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	c.dir("bin")
	c.file("bin/x", 0o755, []byte("hello"))
	c.symlink("bin/y", "x")
	c.chardev("dev/console", 0o600, 5, 1)
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(b))
	}
	var names []string
	for off := 0; off < len(b); {
		h := string(b[off : off+110])
		if !strings.HasPrefix(h, "070701") {
			t.Fatalf("bad magic at %d: %q", off, h[:6])
		}
		var f [13]uint64
		for i := range f {
			var v uint64
			for _, ch := range h[6+8*i : 14+8*i] {
				v = v<<4 | uint64(strings.IndexRune("0123456789ABCDEF", ch))
			}
			f[i] = v
		}
		size, namesize := int(f[6]), int(f[11])
		name := string(b[off+110 : off+110+namesize-1])
		names = append(names, name)
		off = (off + 110 + namesize + 3) &^ 3
		off = (off + size + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("trailer ends at %d of %d", off, len(b))
			}
			break
		}
	}
	if got := strings.Join(names, " "); got != "bin bin/x bin/y dev/console TRAILER!!!" {
		t.Errorf("members: %s", got)
	}
}
