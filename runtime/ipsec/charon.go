package ipsec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotInstalled is returned when charon is needed but strongSwan is not
// installed.
var ErrNotInstalled = errors.New("strongSwan is not installed (need the Debian packages strongswan-charon and strongswan-swanctl)")

// wantedPlugins are the charon plugins mboxsh loads, in load order, when
// they are installed: crypto for the proposals mboxsh can express, the
// kernel interface, the socket, and VICI. bypass-lan, stroke, updown and
// resolve are left out on purpose.
var wantedPlugins = []string{
	"random", "nonce", "openssl", "aes", "des", "sha1", "sha2", "md5", "hmac", "xcbc", "cmac",
	"gmp", "curve25519", "kdf", "pem", "pkcs1", "pkcs8", "pubkey", "x509", "constraints",
	"kernel-netlink", "socket-default", "vici",
}

// installedPlugins lists the plugin names found in dir.
func installedPlugins(dir string) map[string]bool {
	out := map[string]bool{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "libstrongswan-") && strings.HasSuffix(n, ".so") {
			out[strings.TrimSuffix(strings.TrimPrefix(n, "libstrongswan-"), ".so")] = true
		}
	}
	return out
}

// strongswanConf renders the strongswan.conf of a charon owned by mboxsh.
// It holds no secret. Logging goes to stderr, which is a 0600 file in
// RunDir; level 1 never prints key material.
func strongswanConf(runDir string, plugins map[string]bool) string {
	var load []string
	for _, p := range wantedPlugins {
		if plugins[p] {
			load = append(load, p)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by mboxsh for the charon it runs. Do not edit.
charon {
	load = %s
	# mboxsh's routing driver owns routes; GRE transport selectors need none.
	install_routes = no
	install_virtual_ip = no
	# No LAN bypass policies: traffic selectors say exactly what is protected.
	# Retransmissions at 3, 4.8, 7.7, 12.3, 19.7 s, giving up after 79 s;
	# with keyingtries 0 a new round starts at once, so a peer that appears
	# is reached within about 30 s.
	retransmit_timeout = 3.0
	retransmit_base = 1.6
	retransmit_tries = 5
	plugins {
		vici {
			socket = unix://%s
		}
	}
	filelog {
		stderr {
			default = 1
			time_format = %%F %%T
			ike_name = yes
			flush_line = yes
		}
	}
}
`, strings.Join(load, " "), filepath.Join(runDir, "charon.vici"))
	return b.String()
}

// netnsPath is the bind-mount file of the driver's network namespace, or
// "" for the process's own.
func (d *Driver) netnsPath() string {
	if d.opts.NetNS == "" {
		return ""
	}
	return filepath.Join("/run/netns", d.opts.NetNS)
}

// sameNetns tells whether process pid lives in the driver's namespace.
func (d *Driver) sameNetns(pid int) bool {
	if pid <= 0 {
		return false
	}
	want := d.netnsPath()
	if want == "" {
		want = "/proc/self/ns/net"
	}
	var a, b unix.Stat_t
	if unix.Stat(want, &a) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func (d *Driver) ownSocket() string { return filepath.Join(d.opts.RunDir, "charon.vici") }

// locate finds a charon to talk to without starting one: ours (its socket
// in RunDir), else the system's when it runs in the same namespace.
func (d *Driver) locate(ctx context.Context) (path string, owned bool, ok bool) {
	if pid, ok := probeVici(ctx, d.ownSocket()); ok && d.sameNetns(pid) {
		return d.ownSocket(), true, true
	}
	if d.opts.SystemSocket != "" {
		if pid, ok := probeVici(ctx, d.opts.SystemSocket); ok && d.sameNetns(pid) {
			return d.opts.SystemSocket, false, true
		}
	}
	return "", false, false
}

// ensureCharon makes sure a charon answers for the namespace, starting one
// when none does, and points the command client at it.
func (d *Driver) ensureCharon(ctx context.Context) error {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	if d.cl.path != "" {
		if _, ok := probeVici(ctx, d.cl.path); ok {
			return nil
		}
	}
	path, owned, ok := d.locate(ctx)
	if !ok {
		if err := d.startCharon(ctx); err != nil {
			return err
		}
		path, owned = d.ownSocket(), true
	}
	d.setCharon(path, owned)
	return nil
}

// connectExisting points the client at a running charon, if there is one.
func (d *Driver) connectExisting(ctx context.Context) bool {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	if d.cl.path != "" {
		if _, ok := probeVici(ctx, d.cl.path); ok {
			return true
		}
	}
	path, owned, ok := d.locate(ctx)
	if !ok {
		return false
	}
	d.setCharon(path, owned)
	return true
}

func (d *Driver) setCharon(path string, owned bool) {
	if d.cl.path != path {
		d.cl.close()
		d.cl.mu.Lock()
		d.cl.path = path
		d.cl.mu.Unlock()
	}
	d.owned.Store(owned)
	d.startEvents(path)
}

// startCharon runs a charon owned by mboxsh in the driver's namespace:
// own strongswan.conf (STRONGSWAN_CONF), own VICI socket in RunDir, and a
// private /run (charon's pid file path is compiled in) so that one charon
// per namespace can run beside a system charon. The process is detached
// (own session) and outlives mboxsh.
func (d *Driver) startCharon(ctx context.Context) error {
	if _, err := os.Stat(d.opts.Charon); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotInstalled, d.opts.Charon, err)
	}
	if err := os.MkdirAll(d.opts.RunDir, 0o700); err != nil {
		return fmt.Errorf("ipsec run directory: %w", err)
	}
	if err := os.Chmod(d.opts.RunDir, 0o700); err != nil {
		return fmt.Errorf("ipsec run directory: %w", err)
	}
	// One starter at a time per RunDir, across mboxsh processes.
	lock, err := os.OpenFile(filepath.Join(d.opts.RunDir, "charon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if pid, ok := probeVici(ctx, d.ownSocket()); ok && d.sameNetns(pid) {
		return nil // another mboxsh process started it meanwhile
	}
	conf := filepath.Join(d.opts.RunDir, "strongswan.conf")
	if err := writeFile0600(conf, []byte(strongswanConf(d.opts.RunDir, installedPlugins(d.opts.PluginDir)))); err != nil {
		return err
	}
	logPath := filepath.Join(d.opts.RunDir, "charon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	if err := logf.Chmod(0o600); err != nil {
		return err
	}
	_ = os.Remove(d.ownSocket())
	cmd := &exec.Cmd{
		Path:        d.opts.Charon,
		Args:        []string{d.opts.Charon},
		Env:         []string{"STRONGSWAN_CONF=" + conf, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdout:      logf,
		Stderr:      logf,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := startInNamespaces(cmd, d.netnsPath(), d.opts.RunDir); err != nil {
		return fmt.Errorf("starting charon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	d.logf("ipsec: started charon pid %d (netns %q, run dir %s)", cmd.Process.Pid, d.opts.NetNS, d.opts.RunDir)

	deadline := time.Now().Add(d.opts.StartTimeout)
	for {
		if _, ok := probeVici(ctx, d.ownSocket()); ok {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("charon exited during start (%v); see %s", err, logPath)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("charon did not open %s within %v; see %s", d.ownSocket(), d.opts.StartTimeout, logPath)
		}
	}
}

// startInNamespaces starts cmd from a dedicated OS thread that first
// enters a private mount namespace with a fresh tmpfs on /run (RunDir is
// bound back when it lies below /run) and then the target network
// namespace. The thread is never returned to the Go scheduler: it ends
// with the goroutine.
func startInNamespaces(cmd *exec.Cmd, netnsPath, runDir string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// No UnlockOSThread: the thread's namespaces differ from the
		// process's, so it must die with this goroutine.
		errc <- func() error {
			nsfd := -1
			if netnsPath != "" {
				fd, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("network namespace: %w", err)
				}
				defer unix.Close(fd)
				nsfd = fd
			}
			runReal, err := filepath.EvalSymlinks("/run")
			if err != nil {
				return err
			}
			rd, err := filepath.EvalSymlinks(runDir)
			if err != nil {
				return err
			}
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make mounts private: %w", err)
			}
			// Opened in the new namespace (a bind source must be a mount
			// of the caller's namespace), before /run is covered.
			rdfd, err := unix.Open(rd, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(rdfd)
			if err := unix.Mount("tmpfs", runReal, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=4m"); err != nil {
				return fmt.Errorf("private /run: %w", err)
			}
			if vr, err := filepath.EvalSymlinks("/var/run"); err == nil && vr != runReal {
				if err := unix.Mount("tmpfs", vr, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=4m"); err != nil {
					return fmt.Errorf("private /var/run: %w", err)
				}
			}
			if rd == runReal || strings.HasPrefix(rd, runReal+"/") {
				if err := os.MkdirAll(rd, 0o700); err != nil {
					return err
				}
				if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", rdfd), rd, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("bind run directory: %w", err)
				}
			}
			if nsfd >= 0 {
				if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
					return fmt.Errorf("enter network namespace: %w", err)
				}
			}
			return cmd.Start()
		}()
	}()
	return <-errc
}

// StopCharon stops the charon that mboxsh owns for this namespace (never a
// system charon) and waits for it to exit. It is for tests and for taking
// the appliance down; `ipsec stop` only unloads connections.
func (d *Driver) StopCharon(ctx context.Context) error {
	d.supervise.Store(false)
	d.stopEvents()
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.supervise.Store(false)
	pid, ok := probeVici(ctx, d.ownSocket())
	if !ok {
		return nil
	}
	if !d.sameNetns(pid) || pid <= 0 {
		return fmt.Errorf("%s is served by pid %d outside this namespace", d.ownSocket(), pid)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping charon pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.cl.close()
	return nil
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func writeFile0600(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
