package vmlab

import (
	"fmt"
	"io"
)

// cpioWriter writes a cpio archive in the "newc" format, the one the Linux
// kernel unpacks as an initramfs. Writing it here rather than calling cpio(1)
// means a missing tool cannot silently produce an empty image.
type cpioWriter struct {
	w     io.Writer
	ino   uint32
	err   error
	total int64
}

const (
	cpioModeDir  = 0o040000
	cpioModeReg  = 0o100000
	cpioModeChr  = 0o020000
	cpioModeLink = 0o120000
)

func newCPIOWriter(w io.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1} }

// entry writes one member: name without a leading slash, full mode (type and
// permission bits), device numbers for character devices, and the contents.
func (c *cpioWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	if c.err != nil {
		return
	}
	nlink := uint32(1)
	if mode&0o170000 == cpioModeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) dir(name string) { c.entry(name, cpioModeDir|0o755, 0, 0, nil) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, cpioModeReg|perm, 0, 0, data)
}

func (c *cpioWriter) symlink(name, target string) {
	c.entry(name, cpioModeLink|0o777, 0, 0, []byte(target))
}

func (c *cpioWriter) chardev(name string, perm, major, minor uint32) {
	c.entry(name, cpioModeChr|perm, major, minor, nil)
}

// close writes the trailer; it does not close the underlying writer.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil || len(b) == 0 {
		return
	}
	n, err := c.w.Write(b)
	c.total += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.total % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}
