// Package frr is mboxsh's OSPF driver: it realises `router ospf` and the
// per-interface `ip ospf …` statements in FRR (zebra + ospfd).
//
// # Which FRR
//
// Per network namespace there is one FRR instance. When the system's FRR
// (the frr service: zebra's pid file in /var/run/frr) runs in the target
// namespace, the driver configures that one and never starts or stops it.
// Otherwise the driver owns an instance: it starts zebra and ospfd itself,
// inside the namespace (`ip netns exec NAME` with an argv, no shell), with
// their own pathspace (-N), vty sockets, zserv socket, pid files and logs
// under Options.RunDir/NAME, no TCP vty and an empty startup configuration
// (mboxsh re-applies its own configuration; FRR's is never saved).
//
// Daemons start lazily, in the first step of a commit whose configuration
// has `router ospf`; a configuration without OSPF never needs FRR (nor its
// presence on the machine). When `router ospf` is removed, the owned
// daemons are stopped (zebra withdraws its routes from the kernel), so a
// configuration without OSPF leaves no FRR process behind; for the system's
// FRR the driver sends `no router ospf` instead. The daemons outlive the
// mboxsh process; Close does not stop them (Stop does).
//
// # Applying
//
// Plan compares the desired lines with FRR's actual running configuration
// (`show running-config` of ospfd), so drift is re-asserted and identical
// states give no steps. Each step owns one block (`interface X` or `router
// ospf`); Do re-reads the block, sends only the lines that differ through
// vtysh (argv, no shell), re-reads it to verify, and on any error restores
// what it found before returning the error. Undo restores the block as Do
// found it. Lines mboxsh does not manage are left alone (see ospfconf.go);
// `no router ospf` is sent only when OSPF leaves the configuration.
package frr

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
)

// ErrNotInstalled is returned (wrapped) when OSPF is configured and FRR is
// not installed.
var ErrNotInstalled = errors.New("FRR is not installed")

// ErrNotRunning is returned (wrapped) by the diagnostics when ospfd does
// not run.
var ErrNotRunning = errors.New("OSPF is not running")

// SystemPolicy tells whether the driver may use the system's FRR.
type SystemPolicy int

const (
	// SystemAuto uses the system's FRR when its zebra runs in the target
	// namespace, and an owned instance otherwise.
	SystemAuto SystemPolicy = iota
	// SystemNever always uses an owned instance.
	SystemNever
)

// Options configure a Driver. The zero value drives FRR in the current
// network namespace.
type Options struct {
	// NetNS is a named network namespace (/var/run/netns/NAME); "" is the
	// namespace mboxsh runs in.
	NetNS string
	// RunDir holds the owned instances, one directory per pathspace.
	// Default /run/mboxsh/frr.
	RunDir string
	// Name is the FRR pathspace of the owned instance. Default "mboxsh",
	// or "mboxsh-NETNS".
	Name string
	// BinDir holds zebra and ospfd. Default /usr/lib/frr.
	BinDir string
	// Vtysh is the vtysh command. Default "vtysh" (from PATH).
	Vtysh string
	// IP is the ip(8) command used to enter NetNS. Default "ip".
	IP string
	// System chooses between the system's FRR and an owned instance.
	System SystemPolicy
	// SystemRunDir is where the system's FRR keeps pid files and vty
	// sockets. Default /var/run/frr (tests point it elsewhere).
	SystemRunDir string
	// Timeout bounds each daemon start and each vtysh call. Default 15s.
	Timeout time.Duration
	// EditLines, when set, may rewrite the configuration commands of a
	// step before they are sent (not those of a restore or an Undo). Tests
	// use it to make FRR reject a change.
	EditLines func(stmt string, cmds []string) []string
}

// Driver is the FRR driver. It keeps no state between calls: every call
// reads FRR.
type Driver struct {
	opts  Options
	owned *instance
}

var _ runtime.Driver = (*Driver)(nil)

const defaultSystemRunDir = "/var/run/frr"

// safeName matches namespace and pathspace names that may reach FRR's
// command lines; compiled on first use, not at every mboxsh start.
var safeName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
})

// New returns a driver. It does not need FRR to be installed.
func New(opts Options) (*Driver, error) {
	if opts.NetNS != "" && !safeName().MatchString(opts.NetNS) {
		return nil, fmt.Errorf("frr: bad namespace name %q", opts.NetNS)
	}
	if opts.RunDir == "" {
		opts.RunDir = "/run/mboxsh/frr"
	}
	if !filepath.IsAbs(opts.RunDir) {
		return nil, fmt.Errorf("frr: run dir %q is not absolute", opts.RunDir)
	}
	opts.RunDir = filepath.Clean(opts.RunDir)
	if opts.Name == "" {
		opts.Name = "mboxsh"
		if opts.NetNS != "" {
			opts.Name += "-" + opts.NetNS
		}
	}
	if !safeName().MatchString(opts.Name) {
		return nil, fmt.Errorf("frr: bad pathspace name %q", opts.Name)
	}
	if opts.BinDir == "" {
		opts.BinDir = "/usr/lib/frr"
	}
	if opts.Vtysh == "" {
		opts.Vtysh = "vtysh"
	}
	if opts.IP == "" {
		opts.IP = "ip"
	}
	if opts.SystemRunDir == "" {
		opts.SystemRunDir = defaultSystemRunDir
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	dir := filepath.Join(opts.RunDir, opts.Name)
	// sockaddr_un holds 107 bytes of path.
	if n := len(filepath.Join(dir, "zserv.api")); n > 107 {
		return nil, fmt.Errorf("frr: run dir path too long for a unix socket (%d bytes): %s", n, dir)
	}
	d := &Driver{opts: opts}
	d.owned = &instance{
		name: opts.Name, runDir: opts.RunDir, dir: dir, netns: opts.NetNS,
		binDir: opts.BinDir, vtysh: opts.Vtysh, ip: opts.IP, timeout: opts.Timeout,
	}
	return d, nil
}

// Name implements runtime.Driver.
func (d *Driver) Name() string { return "frr" }

// Close implements runtime.Driver. The daemons keep running.
func (d *Driver) Close() error { return nil }

// instance returns the FRR instance to drive now.
func (d *Driver) instance() *instance {
	if d.opts.System == SystemAuto {
		sys := &instance{
			system: true, dir: d.opts.SystemRunDir, netns: d.opts.NetNS,
			binDir: d.opts.BinDir, vtysh: d.opts.Vtysh, ip: d.opts.IP, timeout: d.opts.Timeout,
		}
		if sys.pid("zebra") != 0 {
			return sys
		}
	}
	return d.owned
}

// Stop stops the daemons of the owned instance, if they run.
func (d *Driver) Stop(ctx context.Context) error {
	return d.owned.stop(ctx, nil)
}

// DaemonStatus is one daemon of the instance.
type DaemonStatus struct {
	Name string `json:"name"`
	PID  int    `json:"pid,omitempty"`
}

// Status describes the FRR instance the driver uses.
type Status struct {
	Installed bool   `json:"installed"`
	System    bool   `json:"system"` // the system's FRR, not an owned instance
	NetNS     string `json:"netns,omitempty"`
	Pathspace string `json:"pathspace,omitempty"`
	Dir       string `json:"dir"`
	// Running lists the daemons that run.
	Running []DaemonStatus `json:"running"`
}

// Status reports which FRR instance is used and which of its daemons run.
func (d *Driver) Status(ctx context.Context) (Status, error) {
	in := d.instance()
	st := Status{Installed: in.installed() == nil, System: in.system, NetNS: in.netns, Dir: in.dir, Running: []DaemonStatus{}}
	if !in.system {
		st.Pathspace = in.name
	}
	for _, dn := range in.daemons() {
		if p := in.pid(dn); p != 0 {
			st.Running = append(st.Running, DaemonStatus{Name: dn, PID: p})
		}
	}
	return st, ctx.Err()
}

// RunningConfig returns ospfd's running configuration as FRR prints it, or
// "" when ospfd does not run.
func (d *Driver) RunningConfig(ctx context.Context) (string, error) {
	in := d.instance()
	if in.pid("ospfd") == 0 {
		return "", nil
	}
	return in.show(ctx, "ospfd", "show running-config")
}

// allRunning reports whether every daemon of the instance runs.
func allRunning(in *instance) bool {
	return len(in.running()) == len(in.daemons())
}

// Plan implements runtime.Driver. `from` is not consulted: the driver
// compares `to` with what FRR actually runs.
func (d *Driver) Plan(ctx context.Context, from, to *config.Config) ([]runtime.Step, error) {
	want, err := desiredState(to)
	if err != nil {
		return nil, err
	}
	in := d.instance()
	if want == nil {
		return d.planRemove(ctx, in, from)
	}
	if err := in.installed(); err != nil {
		return nil, fmt.Errorf("router ospf: %w", err)
	}
	var steps []runtime.Step
	if in.system {
		if in.pid("ospfd") == 0 {
			return nil, errors.New("router ospf: the system's FRR runs in this namespace without ospfd: set ospfd=yes in /etc/frr/daemons and restart frr")
		}
	} else if !allRunning(in) {
		steps = append(steps, d.startStep(in))
	}
	cur, err := in.readState(ctx)
	if err != nil {
		return nil, err
	}
	cache := &stateCache{}
	cache.set(cur)
	for _, name := range ifaceNames(cur, want.State) {
		header := "interface " + name
		wb := want.State.iface(name)
		cmds := transition(header, false, cur.iface(name), wb)
		if len(cmds) == 0 {
			continue
		}
		stmt, ok := want.Stmt[name]
		if !ok {
			stmt = stmtFor(name, to, from)
		}
		steps = append(steps, d.blockStep(in, cache, stmt, header, false, wb, cmds))
	}
	if cmds := transition(routerHeader, true, cur.Router, want.State.Router); len(cmds) > 0 {
		steps = append(steps, d.blockStep(in, cache, "router ospf", routerHeader, true, want.State.Router, cmds))
	}
	return steps, nil
}

// planRemove plans the removal of OSPF: stop an owned instance, or remove
// mboxsh's lines from the system's FRR.
func (d *Driver) planRemove(ctx context.Context, in *instance, from *config.Config) ([]runtime.Step, error) {
	if !in.system {
		if len(in.running()) == 0 {
			return nil, nil
		}
		return []runtime.Step{d.stopStep(in)}, nil
	}
	if in.pid("ospfd") == 0 {
		return nil, nil
	}
	cur, err := in.readState(ctx)
	if err != nil {
		return nil, err
	}
	var steps []runtime.Step
	cache := &stateCache{}
	cache.set(cur)
	for _, name := range ifaceNames(cur) {
		header := "interface " + name
		if cmds := transition(header, false, cur.iface(name), block{}); len(cmds) > 0 {
			steps = append(steps, d.blockStep(in, cache, stmtFor(name, from), header, false, block{}, cmds))
		}
	}
	if cmds := transition(routerHeader, true, cur.Router, block{}); len(cmds) > 0 {
		steps = append(steps, d.blockStep(in, cache, "no router ospf", routerHeader, true, block{}, cmds))
	}
	return steps, nil
}

func (d *Driver) where(in *instance) string {
	ns := in.netns
	if ns == "" {
		ns = "current"
	}
	return fmt.Sprintf("netns %s, pathspace %s", ns, in.name)
}

// startStep starts the daemons of an owned instance that do not run.
func (d *Driver) startStep(in *instance) runtime.Step {
	var started []string
	return runtime.Step{
		Driver: d.Name(),
		Stmt:   "router ospf",
		Desc:   fmt.Sprintf("start FRR (%s; %s)", strings.Join(in.daemons(), ", "), d.where(in)),
		Do: func(ctx context.Context) error {
			var err error
			started, err = in.start(ctx)
			return err
		},
		Undo: func(ctx context.Context) error {
			return in.stop(ctx, started)
		},
	}
}

// stopStep stops an owned instance; Undo starts it again and re-applies the
// OSPF blocks Do found.
func (d *Driver) stopStep(in *instance) runtime.Step {
	var snap *ospfState
	return runtime.Step{
		Driver: d.Name(),
		Stmt:   "no router ospf",
		Desc:   fmt.Sprintf("stop FRR (%s)", d.where(in)),
		Do: func(ctx context.Context) error {
			var err error
			if snap, err = in.readState(ctx); err != nil {
				return err
			}
			return in.stop(ctx, nil)
		},
		Undo: func(ctx context.Context) error {
			if _, err := in.start(ctx); err != nil {
				return err
			}
			var errs []error
			empty := block{}
			for _, name := range ifaceNames(snap) {
				header := "interface " + name
				if cmds := transition(header, false, empty, snap.iface(name)); len(cmds) > 0 {
					_, err := in.configure(ctx, cmds)
					errs = append(errs, err)
				}
			}
			if cmds := transition(routerHeader, true, empty, snap.Router); len(cmds) > 0 {
				_, err := in.configure(ctx, cmds)
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
}

// stateCache carries FRR's OSPF state from Plan to the first step and from
// each step's verification to the next step, saving a vtysh call per step.
// An entry older than cacheTTL is not used: Do then reads FRR again.
type stateCache struct {
	st *ospfState
	at time.Time
}

const cacheTTL = time.Second

func (c *stateCache) set(st *ospfState) { c.st, c.at = st, time.Now() }
func (c *stateCache) clear()            { c.st = nil }

func (c *stateCache) get() *ospfState {
	if c == nil || c.st == nil || time.Since(c.at) > cacheTTL {
		return nil
	}
	return c.st
}

// blockStep moves one block to want. Desc shows the commands as planned; Do
// recomputes them from FRR's state at that time.
func (d *Driver) blockStep(in *instance, cache *stateCache, stmt, header string, router bool, want block, planned []string) runtime.Step {
	var before block
	return runtime.Step{
		Driver: d.Name(),
		Stmt:   stmt,
		Desc:   "FRR: " + strings.Join(planned, "; "),
		Do: func(ctx context.Context) error {
			st := cache.get()
			cache.clear()
			if st == nil {
				var err error
				if st, err = in.readState(ctx); err != nil {
					return err
				}
			}
			var after *ospfState
			var err error
			before, after, err = d.converge(ctx, in, st, stmt, header, router, want, true)
			if err == nil && after != nil {
				cache.set(after)
			}
			return err
		},
		Undo: func(ctx context.Context) error {
			cache.clear()
			st, err := in.readState(ctx)
			if err != nil {
				return err
			}
			_, _, err = d.converge(ctx, in, st, stmt, header, router, before, false)
			return err
		},
	}
}

func (s *ospfState) block(header string) block {
	if header == routerHeader {
		return s.Router
	}
	return s.iface(strings.TrimPrefix(header, "interface "))
}

// converge moves one block from its state in st to want and verifies the
// result. It returns the block as it found it and FRR's state afterwards
// (nil when nothing was sent). A forward change that fails is undone.
func (d *Driver) converge(ctx context.Context, in *instance, st *ospfState, stmt, header string, router bool, want block, forward bool) (block, *ospfState, error) {
	cur := st.block(header)
	cmds := transition(header, router, cur, want)
	if len(cmds) == 0 {
		return cur, st, nil
	}
	if forward && d.opts.EditLines != nil {
		cmds = d.opts.EditLines(stmt, slices.Clone(cmds))
	}
	fail := func(err error) (block, *ospfState, error) {
		if !forward {
			return cur, nil, err
		}
		if rerr := d.restore(context.WithoutCancel(ctx), in, header, router, cur); rerr != nil {
			return cur, nil, fmt.Errorf("%w (restoring FRR failed: %v)", err, rerr)
		}
		return cur, nil, err
	}
	after, err := in.configure(ctx, cmds)
	if err != nil {
		return fail(err)
	}
	if left := transition(header, router, after.block(header), want); len(left) > 0 {
		return fail(fmt.Errorf("FRR did not take the change: still needs %q", strings.Join(left, "; ")))
	}
	// A new router-id takes effect only when the OSPF process restarts.
	if router && cur.Present && want.Present && routerID(cur) != routerID(want) {
		if _, err := in.show(ctx, "ospfd", "clear ip ospf process"); err != nil {
			return fail(fmt.Errorf("restarting OSPF for the new router-id: %w", err))
		}
	}
	return cur, after, nil
}

// restore moves a block back to a snapshot and checks that it got there.
func (d *Driver) restore(ctx context.Context, in *instance, header string, router bool, snap block) error {
	st, err := in.readState(ctx)
	if err != nil {
		return err
	}
	cmds := transition(header, router, st.block(header), snap)
	if len(cmds) == 0 {
		return nil
	}
	after, err := in.configure(ctx, cmds)
	if err != nil {
		return err
	}
	if left := transition(header, router, after.block(header), snap); len(left) > 0 {
		return fmt.Errorf("FRR still needs %q", strings.Join(left, "; "))
	}
	return nil
}

func routerID(b block) string {
	for _, it := range managed(true, b.Lines) {
		if it.key == "router-id" {
			return it.canon
		}
	}
	return ""
}

// Drift implements runtime.Driver.
func (d *Driver) Drift(ctx context.Context, cfg *config.Config) ([]string, error) {
	want, err := desiredState(cfg)
	if err != nil {
		return nil, err
	}
	in := d.instance()
	var out []string
	if want == nil {
		if !in.system {
			if r := in.running(); len(r) > 0 {
				out = append(out, fmt.Sprintf("router ospf: FRR runs (%s) but OSPF is not configured", strings.Join(sortedKeys(r), ", ")))
			}
		}
		want = &desired{State: &ospfState{Ifaces: map[string]block{}}}
	} else {
		if err := in.installed(); err != nil {
			return []string{"router ospf: " + err.Error()}, nil
		}
		for _, dn := range in.daemons() {
			if in.pid(dn) == 0 {
				out = append(out, fmt.Sprintf("router ospf: %s does not run", dn))
			}
		}
		if in.pid("ospfd") == 0 {
			return out, nil // nothing of OSPF is configured, then
		}
	}
	cur, err := in.readState(ctx)
	if err != nil {
		return out, err
	}
	out = append(out, driftLines("router ospf", true, cur.Router, want.State.Router)...)
	for _, name := range ifaceNames(cur, want.State) {
		out = append(out, driftLines("interface "+name, false, cur.iface(name), want.State.iface(name))...)
	}
	return out, nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
