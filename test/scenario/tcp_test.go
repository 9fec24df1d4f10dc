package scenario

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestHelperTCP is not a test: tcpTransfer runs the test binary as a TCP
// sink or source inside a namespace.
func TestHelperTCP(t *testing.T) {
	role := os.Getenv("MBOXSH_TCP_ROLE")
	if role == "" {
		t.Skip("helper process for tcpTransfer")
	}
	addr := os.Getenv("MBOXSH_TCP_ADDR")
	n, _ := strconv.Atoi(os.Getenv("MBOXSH_TCP_BYTES"))
	switch role {
	case "sink":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("LISTENING")
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		h := sha256.New()
		got, _ := io.Copy(h, c)
		fmt.Printf("GOT %d %x\n", got, h.Sum(nil))
		os.Exit(0)
	case "source":
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.Copy(c, io.LimitReader(&pattern{}, int64(n))); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		_ = c.Close()
		os.Exit(0)
	}
}

// pattern is an endless deterministic byte stream.
type pattern struct{ off int }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte((r.off + i) * 7 % 251)
	}
	r.off += len(p)
	return len(p), nil
}

// tcpTransfer sends n bytes from srcNS to a sink at sinkAddr in sinkNS and
// checks they all arrive intact: full-size segments must cross the tunnel
// (MSS clamping or path-MTU discovery must work).
func tcpTransfer(l *lab, sinkNS, sinkIP, srcNS string, n int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(sinkIP, "5201")
	env := func(role string) []string {
		return append(os.Environ(), "MBOXSH_TCP_ROLE="+role, "MBOXSH_TCP_ADDR="+addr, "MBOXSH_TCP_BYTES="+strconv.Itoa(n))
	}
	sink := exec.Command("ip", "netns", "exec", sinkNS, self, "-test.run=^TestHelperTCP$")
	sink.Env = env("sink")
	var sinkOut bytes.Buffer
	pr, pw := io.Pipe()
	sink.Stdout = io.MultiWriter(&sinkOut, pw)
	if err := sink.Start(); err != nil {
		return err
	}
	defer sink.Process.Kill()
	ready := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		var seen bytes.Buffer
		for {
			k, err := pr.Read(buf)
			seen.Write(buf[:k])
			if bytes.Contains(seen.Bytes(), []byte("LISTENING")) {
				ready <- true
				io.Copy(io.Discard, pr)
				return
			}
			if err != nil {
				ready <- false
				return
			}
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			return fmt.Errorf("sink failed: %s", sinkOut.String())
		}
	case <-time.After(20 * time.Second):
		return fmt.Errorf("sink did not start")
	}
	src := exec.Command("ip", "netns", "exec", srcNS, self, "-test.run=^TestHelperTCP$")
	src.Env = env("source")
	if out, err := src.CombinedOutput(); err != nil {
		return fmt.Errorf("source: %v: %s", err, out)
	}
	done := make(chan error, 1)
	go func() { done <- sink.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("sink did not finish")
	}
	pw.Close()
	h := sha256.New()
	io.Copy(h, io.LimitReader(&pattern{}, int64(n)))
	want := fmt.Sprintf("GOT %d %x", n, h.Sum(nil))
	if !bytes.Contains(sinkOut.Bytes(), []byte(want)) {
		return fmt.Errorf("sink received something else: %q, want %q", sinkOut.String(), want)
	}
	return nil
}
