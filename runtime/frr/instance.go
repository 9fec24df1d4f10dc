package frr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instance is one FRR instance: mboxsh's own (daemons started by the
// driver, files under dir) or the system's (/var/run/frr, started by the
// frr service).
type instance struct {
	system  bool
	name    string // FRR pathspace (-N) of an owned instance
	runDir  string // parent of dir
	dir     string // sockets, pid files, logs of an owned instance; /var/run/frr for the system
	netns   string // named netns; "" = the current one
	binDir  string
	vtysh   string
	ip      string
	timeout time.Duration
}

// daemons returns the daemons of an instance in start order.
func (in *instance) daemons() []string {
	ds := []string{"zebra", "ospfd"}
	// FRR 9 and later configure zebra through mgmtd; start it first when it
	// is installed. (Not exercised with Debian 12's FRR 8.4.)
	if _, err := os.Stat(filepath.Join(in.binDir, "mgmtd")); err == nil && !in.system {
		ds = append([]string{"mgmtd"}, ds...)
	}
	return ds
}

// installed reports whether the FRR binaries the driver needs exist.
func (in *instance) installed() error {
	need := []string{filepath.Join(in.binDir, "zebra"), filepath.Join(in.binDir, "ospfd")}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: %s not found (install the frr package)", ErrNotInstalled, p)
		}
	}
	if _, err := exec.LookPath(in.vtysh); err != nil {
		return fmt.Errorf("%w: vtysh not found (%v)", ErrNotInstalled, err)
	}
	return nil
}

func (in *instance) pidFile(d string) string { return filepath.Join(in.dir, d+".pid") }
func (in *instance) vtySock(d string) string { return filepath.Join(in.dir, d+".vty") }
func (in *instance) logFile(d string) string { return filepath.Join(in.dir, d+".log") }

// pid returns the pid of daemon d when it runs, else 0. An owned daemon is
// recognised by its pid file path on its command line, a system daemon by
// its executable name and network namespace.
func (in *instance) pid(d string) int {
	b, err := os.ReadFile(in.pidFile(d))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmd) == 0 { // gone, or a zombie
		return 0
	}
	args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
	if filepath.Base(args[0]) != d {
		return 0
	}
	if in.system {
		if sameNetNS(fmt.Sprintf("/proc/%d/ns/net", pid), in.netnsPath()) {
			return pid
		}
		return 0
	}
	for _, a := range args[1:] {
		if a == in.pidFile(d) {
			return pid
		}
	}
	return 0
}

// running returns the pids of the instance's running daemons.
func (in *instance) running() map[string]int {
	out := map[string]int{}
	for _, d := range in.daemons() {
		if p := in.pid(d); p != 0 {
			out[d] = p
		}
	}
	return out
}

func (in *instance) netnsPath() string {
	if in.netns == "" {
		return "/proc/self/ns/net"
	}
	return filepath.Join("/var/run/netns", in.netns)
}

// sameNetNS compares two network namespace files.
func sameNetNS(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// prepare creates the instance directory, owned by FRR's user so that the
// daemons can write there after dropping privileges.
func (in *instance) prepare() error {
	if err := mkdirAllSearchable(in.runDir); err != nil {
		return fmt.Errorf("creating %s: %w", in.runDir, err)
	}
	if err := ensureSearchable(in.runDir); err != nil {
		return err
	}
	if err := os.MkdirAll(in.dir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", in.dir, err)
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("FRR's user: %w (is the frr package installed?)", err)
	}
	g, err := user.LookupGroup("frr")
	if err != nil {
		return fmt.Errorf("FRR's group: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(in.dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", in.dir, err)
	}
	if err := os.Chmod(in.dir, 0o750); err != nil {
		return err
	}
	// An empty vtysh.conf keeps vtysh from complaining (and from reading
	// the system's).
	conf := filepath.Join(in.dir, "vtysh.conf")
	if _, err := os.Stat(conf); err != nil {
		if err := os.WriteFile(conf, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAllSearchable creates dir and its missing parents with mode 0755,
// whatever the umask: FRR's daemons must reach the instance directory.
func mkdirAllSearchable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAllSearchable(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// ensureSearchable makes sure FRR's user can reach dir: every directory on
// the path needs search permission for others. Missing search permission
// is added (search only, never read) below /run and /tmp, where another
// mboxsh driver may have created a shared parent with mode 0700; elsewhere
// it is an error.
func ensureSearchable(dir string) error {
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		if mode&0o001 != 0 {
			continue
		}
		if !strings.HasPrefix(p, "/run/") && !strings.HasPrefix(p, "/tmp/") && !strings.HasPrefix(p, "/var/run/") {
			return fmt.Errorf("FRR's user cannot reach %s: %s is not searchable (chmod o+x it, or choose another run dir)", dir, p)
		}
		if err := os.Chmod(p, mode|0o001); err != nil {
			return fmt.Errorf("making %s searchable for FRR's user: %w", p, err)
		}
	}
	return nil
}

// lock takes the instance's start/stop lock.
func (in *instance) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(in.runDir, in.name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// start starts the daemons that do not run and returns their names.
func (in *instance) start(ctx context.Context) (started []string, err error) {
	if in.system {
		return nil, errors.New("the system's FRR is not started by mboxsh")
	}
	if err := in.installed(); err != nil {
		return nil, err
	}
	if err := in.prepare(); err != nil {
		return nil, err
	}
	unlock, err := in.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, d := range in.daemons() {
		if in.pid(d) != 0 {
			continue
		}
		if err := in.startDaemon(ctx, d); err != nil {
			// Leave nothing half-started behind.
			if serr := in.stopLocked(context.WithoutCancel(ctx), started); serr != nil {
				err = fmt.Errorf("%w (stopping the others: %v)", err, serr)
			}
			return nil, err
		}
		started = append(started, d)
	}
	return started, nil
}

func (in *instance) startDaemon(ctx context.Context, d string) error {
	for _, f := range []string{in.pidFile(d), in.vtySock(d), in.logFile(d)} {
		_ = os.Remove(f)
	}
	args := []string{filepath.Join(in.binDir, d), "-d",
		"-N", in.name,
		"--vty_socket", in.dir,
		"-i", in.pidFile(d),
		"-f", "/dev/null",
		"-P", "0", // no TCP vty
		"--log", "file:" + in.logFile(d),
	}
	if d == "zebra" || d == "ospfd" {
		args = append(args, "-z", filepath.Join(in.dir, "zserv.api"))
	}
	if in.netns != "" {
		args = append([]string{in.ip, "netns", "exec", in.netns}, args...)
	}
	cctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The daemonised child might keep the output pipe open.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return fmt.Errorf("starting %s: %v: %s%s", d, err, strings.TrimSpace(out.String()), in.logTail(d))
	}
	// The daemon forks once initialised; wait for its pid file and socket.
	for {
		if in.pid(d) != 0 {
			if _, err := os.Stat(in.vtySock(d)); err == nil {
				return nil
			}
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("starting %s: not ready after %v%s", d, in.timeout, in.logTail(d))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (in *instance) logTail(d string) string {
	b, err := os.ReadFile(in.logFile(d))
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "\n" + d + ".log: " + strings.Join(lines, "\n")
}

// stop stops the given daemons (all when names is nil), last started first.
func (in *instance) stop(ctx context.Context, names []string) error {
	if in.system {
		return errors.New("the system's FRR is not stopped by mboxsh")
	}
	if _, err := os.Stat(in.runDir); errors.Is(err, os.ErrNotExist) {
		return nil // never started
	}
	unlock, err := in.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return in.stopLocked(ctx, names)
}

func (in *instance) stopLocked(ctx context.Context, names []string) error {
	if names == nil {
		names = in.daemons()
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		d := names[i]
		pid := in.pid(d)
		if pid == 0 {
			continue
		}
		if err := in.kill(ctx, d, pid); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range []string{in.pidFile(d), in.vtySock(d)} {
			_ = os.Remove(f)
		}
	}
	return errors.Join(errs...)
}

// kill sends SIGTERM, waits, then SIGKILL.
func (in *instance) kill(ctx context.Context, d string, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", d, pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for procAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(2 * time.Second)
			for procAlive(pid) {
				if time.Now().After(deadline) {
					return fmt.Errorf("stopping %s (pid %d): still running after SIGKILL", d, pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// procAlive reports whether a process exists and has not exited (a zombie
// has).
func procAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X' && st != 'x'
}

// vtyshCmd runs vtysh against the instance with the given arguments.
func (in *instance) vtyshCmd(ctx context.Context, args ...string) (string, error) {
	var base []string
	switch {
	case !in.system:
		// vtysh appends the pathspace to both directories.
		base = []string{"-N", in.name, "--vty_socket", in.runDir, "--config_dir", in.runDir}
	case in.dir != defaultSystemRunDir:
		base = []string{"--vty_socket", in.dir}
	}
	cctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, in.vtysh, append(base, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "VTYSH_PAGER=cat"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		msg := strings.TrimSpace(text)
		if msg == "" {
			msg = err.Error()
		}
		return text, fmt.Errorf("vtysh: %s", msg)
	}
	return text, nil
}

// show runs one command (a `show …`, or an exec command such as `clear ip
// ospf process`) and returns its output.
func (in *instance) show(ctx context.Context, daemon, command string) (string, error) {
	if err := validateLine(command); err != nil {
		return "", err
	}
	args := []string{}
	if daemon != "" {
		args = append(args, "-d", daemon)
	}
	return in.vtyshCmd(ctx, append(args, "-c", command)...)
}

// configure runs the commands in configure mode and then reads ospfd's
// running configuration, in one vtysh call. vtysh stops at the first
// command FRR rejects (the commands before it stay applied); the error
// names that command and quotes FRR.
func (in *instance) configure(ctx context.Context, cmds []string) (*ospfState, error) {
	all := append(append([]string{"configure terminal"}, cmds...), "end", "show running-config ospfd")
	args := []string{"-E"} // echo each command, to tell which one FRR rejected
	for _, c := range all {
		if err := validateLine(c); err != nil {
			return nil, err
		}
		args = append(args, "-c", c)
	}
	out, runErr := in.vtyshCmd(ctx, args...)
	// Split the output into echoed commands, FRR's messages, and the
	// running configuration printed by the last command.
	var last string
	var msgs []string
	next, conf := 0, -1
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if next < len(all) && strings.HasSuffix(l, "# "+all[next]) {
			last = all[next]
			next++
			if next == len(all) {
				conf = i + 1
				break
			}
			continue
		}
		if t := strings.TrimSpace(l); t != "" {
			msgs = append(msgs, t)
		}
	}
	failed := runErr != nil
	for _, m := range msgs {
		if strings.HasPrefix(m, "%") {
			failed = true
		}
	}
	if failed {
		msg := strings.Join(msgs, " ")
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		if last == "" || last == "configure terminal" {
			return nil, fmt.Errorf("FRR: %s", msg)
		}
		return nil, fmt.Errorf("FRR rejected %q: %s", last, msg)
	}
	if conf < 0 {
		return nil, fmt.Errorf("FRR: unexpected vtysh output: %s", strings.TrimSpace(out))
	}
	return parseRunning(strings.Join(lines[conf:], "\n")), nil
}

// readState reads the OSPF part of the running configuration. An instance
// whose ospfd does not run has none.
func (in *instance) readState(ctx context.Context) (*ospfState, error) {
	if in.pid("ospfd") == 0 {
		return &ospfState{Ifaces: map[string]block{}}, nil
	}
	out, err := in.show(ctx, "ospfd", "show running-config")
	if err != nil {
		return nil, fmt.Errorf("reading FRR's running config: %w", err)
	}
	return parseRunning(out), nil
}
