package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommitConfirmedKernel: on the real kernel (a network namespace),
// `commit confirmed 1` that nobody confirms is undone within the minute
// after the deadline, although the shell that committed was killed.
func TestCommitConfirmedKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
			t.Skip("needs root (network namespaces)")
		}
		t.Fatal("needs root: it creates a network namespace (MBOXSH_ALLOW_SKIP=1 skips)")
	}
	t.Parallel()
	ns := fmt.Sprintf("mbxconf-%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	dir := t.TempDir()
	mboxsh := func(stdin string) string {
		t.Helper()
		cmd := exec.Command(mboxshBin, "--netns", ns, "--state-dir", dir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mboxsh: %v\n%s", err, out)
		}
		return string(out)
	}
	addrs := func() string {
		return run("ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "eth0")
	}
	mboxsh("configure\ninterface eth0\nenable\nip address 192.0.2.1/24\ncommit\nend\n")
	if !strings.Contains(addrs(), "192.0.2.1/24") {
		t.Fatalf("first commit did not apply:\n%s", addrs())
	}

	// A shell that commits confirmed, then is killed before confirming.
	sh := exec.Command(mboxshBin, "--netns", ns, "--state-dir", dir)
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := sh.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(stdin, "configure\ninterface eth0\nno ip address 192.0.2.1/24\nip address 198.51.100.7/24\ncommit confirmed 1\n")
	committed := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "previous configuration returns") {
				committed <- true
				return
			}
		}
		committed <- false
	}()
	select {
	case ok := <-committed:
		if !ok {
			t.Fatal("commit confirmed did not complete")
		}
	case <-time.After(time.Minute):
		t.Fatal("commit confirmed timed out")
	}
	confirmedAt := time.Now()
	if got := addrs(); !strings.Contains(got, "198.51.100.7/24") || strings.Contains(got, "192.0.2.1/24") {
		t.Fatalf("commit confirmed did not apply:\n%s", got)
	}
	_ = sh.Process.Signal(syscall.SIGKILL)
	_ = sh.Wait()

	deadline := confirmedAt.Add(2 * time.Minute)
	for {
		got := addrs()
		if strings.Contains(got, "192.0.2.1/24") && !strings.Contains(got, "198.51.100.7/24") {
			after := time.Since(confirmedAt)
			if after > time.Minute+30*time.Second {
				t.Errorf("rolled back %s after the commit; want within the minute after the 1-minute deadline", after)
			}
			t.Logf("previous state restored %s after `commit confirmed 1`", after.Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rolled back within 2 minutes:\n%s", got)
		}
		time.Sleep(time.Second)
	}
	running, err := os.ReadFile(filepath.Join(dir, "running-config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(running), "ip address 192.0.2.1/24") {
		t.Errorf("running-config not restored:\n%s", running)
	}
}
