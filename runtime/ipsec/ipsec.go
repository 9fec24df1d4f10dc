// Package ipsec is mboxsh's IPsec driver: it realises the `ipsec ike-policy`,
// `ipsec esp-policy`, `ipsec peer` and `ipsec start|stop` statements by
// driving strongSwan's charon through VICI (github.com/strongswan/govici).
//
// One charon connection per peer, named ConnPrefix+peer. The pre-shared key
// goes to charon with load-shared only: never in a file, a process argument
// or a log. A commit touches only the peers whose generated connection
// changed (unload, then load), so unchanged SAs are never re-keyed, and
// charon is never restarted.
//
// Bringing tunnels up: every initiating peer's CHILD_SA installs trap
// policies (start_action trap), so matching traffic starts negotiation, and
// DPD (30 s, dpd_action restart) re-establishes a tunnel whose peer died.
// Of the two ends, the one with the lower IKE address also initiates as
// soon as the connection is loaded (trap|start) and keeps retrying until
// the peer answers (keyingtries 0; charon mboxsh runs retransmits at 3 s
// × 1.6^n, five times, then starts over): the appliances are configured
// one after the other, and the tunnel comes up by itself when the second
// one is, with or without traffic. Only one end starts because two mboxsh
// peers that both initiate at once end up with duplicate IKE and CHILD
// SAs; the drivers delete duplicates, both ends keeping the same. When an address is not
// known from the configuration, the end initiates. A responder-only peer
// (`remote-ip any`) only answers.
//
// GRE protection: when a peer's local-net/remote-net are exactly the /32
// endpoints of a GRE interface of the configuration, the CHILD_SA selects
// protocol 47 between those two addresses only, in transport mode when
// IKE runs between the same two addresses (else tunnel mode). Other peers
// get tunnel mode between their nets. charon installs no routes
// (install_routes = no): the routing driver owns routes.
//
// Lifetimes: `keylife N` rekeys at 90 % of N; a CHILD_SA never lives
// longer than N (life_time), an IKE_SA at most N (over_time 10 %).
//
// Status (Status, RenderStatus for `show ipsec status`, RenderSA for
// `show ipsec sa`) comes from list-conns and list-sas, with packet and byte
// counters from the kernel's XFRM states. Why an SA is down comes from
// charon's log lines: the VICI `log`/`ike-updown` events while a driver
// runs, and the end of the log of the charon mboxsh runs, so that a
// one-shot `mboxsh -c "show ipsec sa"` knows it too.
//
// charon: the driver uses the system's charon when its VICI socket
// answers from a process in the driver's network namespace; otherwise it
// starts its own, lazily (at the first commit that loads a peer), with a
// strongswan.conf, VICI socket and log in RunDir (mode 0700), in the
// namespace, in a private mount namespace whose /run is a fresh tmpfs (so
// its compiled-in pid file does not collide with another charon). That
// charon is detached and outlives mboxsh; StopCharon stops it.
package ipsec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strongswan/govici/vici"

	"mboxsh/config"
	"mboxsh/runtime"
)

// Options configure a Driver.
type Options struct {
	// NetNS is the named network namespace (ip netns, /run/netns/NAME) of
	// the appliance; "" is the process's own namespace.
	NetNS string
	// RunDir holds the files of the charon mboxsh runs: strongswan.conf,
	// the VICI socket, the log, the connection fingerprints. It is created
	// with mode 0700. Default /run/mboxsh/ipsec, or /run/mboxsh/ipsec-NETNS.
	RunDir string
	// Charon is the charon binary. Default /usr/lib/ipsec/charon.
	Charon string
	// PluginDir is charon's plugin directory. Default /usr/lib/ipsec/plugins.
	PluginDir string
	// SystemSocket is the VICI socket of a system charon, used when it
	// answers from the driver's namespace. Default /var/run/charon.vici.
	SystemSocket string
	// NoSystemCharon never uses a system charon.
	NoSystemCharon bool
	// StartTimeout bounds charon's start-up. Default 20 s.
	StartTimeout time.Duration
	// Logf receives diagnostics (never secrets). Default: discard.
	Logf func(format string, args ...any)
}

// Driver is the IPsec runtime driver. It is safe for concurrent use.
type Driver struct {
	opts Options
	cl   client

	dmu       sync.Mutex // locating and starting charon
	owned     atomic.Bool
	supervise atomic.Bool

	amu     sync.Mutex
	applied map[string]*connSpec // what this driver loaded, by connection name

	track *tracker

	emu      sync.Mutex
	evPath   string
	evCancel context.CancelFunc
	evDone   chan struct{}

	xmu  sync.Mutex
	xfrm xfrmLister
}

var _ runtime.Driver = (*Driver)(nil)

// New returns a driver. It starts nothing: charon is found or started at
// the first step that needs it.
func New(opts Options) (*Driver, error) {
	if opts.NetNS != "" {
		if strings.ContainsAny(opts.NetNS, "/\x00") || opts.NetNS == "." || opts.NetNS == ".." {
			return nil, fmt.Errorf("ipsec: bad network namespace name %q", opts.NetNS)
		}
		if _, err := os.Stat(filepath.Join("/run/netns", opts.NetNS)); err != nil {
			return nil, fmt.Errorf("ipsec: network namespace %s: %w", opts.NetNS, err)
		}
	}
	if opts.RunDir == "" {
		opts.RunDir = "/run/mboxsh/ipsec"
		if opts.NetNS != "" {
			opts.RunDir += "-" + opts.NetNS
		}
	}
	abs, err := filepath.Abs(opts.RunDir)
	if err != nil {
		return nil, err
	}
	opts.RunDir = abs
	if opts.Charon == "" {
		opts.Charon = "/usr/lib/ipsec/charon"
	}
	if opts.PluginDir == "" {
		opts.PluginDir = "/usr/lib/ipsec/plugins"
	}
	if opts.SystemSocket == "" {
		opts.SystemSocket = "/var/run/charon.vici"
	}
	if opts.NoSystemCharon {
		opts.SystemSocket = ""
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 20 * time.Second
	}
	d := &Driver{opts: opts, applied: map[string]*connSpec{}}
	d.track = newTracker(d.peerByRemote)
	return d, nil
}

// Name implements runtime.Driver.
func (d *Driver) Name() string { return "ipsec" }

// Close stops the event session. charon keeps running, and so do the SAs.
func (d *Driver) Close() error {
	d.supervise.Store(false)
	d.stopEvents()
	d.cl.close()
	d.xmu.Lock()
	if d.xfrm != nil {
		d.xfrm.Close()
		d.xfrm = nil
	}
	d.xmu.Unlock()
	return nil
}

func (d *Driver) logf(format string, args ...any) {
	if d.opts.Logf != nil {
		d.opts.Logf(format, args...)
	}
}

// SocketPath is the VICI socket the driver talks to ("" before the first
// contact with charon).
func (d *Driver) SocketPath() string {
	d.cl.mu.Lock()
	defer d.cl.mu.Unlock()
	return d.cl.path
}

// OwnsCharon tells whether the charon in use is one mboxsh started.
func (d *Driver) OwnsCharon() bool { return d.owned.Load() }

func (d *Driver) appliedSpecs() []*connSpec {
	d.amu.Lock()
	defer d.amu.Unlock()
	out := make([]*connSpec, 0, len(d.applied))
	for _, k := range sortedKeys(d.applied) {
		out = append(out, d.applied[k])
	}
	return out
}

func (d *Driver) peerByRemote(a netip.Addr) (string, bool) {
	d.amu.Lock()
	defer d.amu.Unlock()
	for _, s := range d.applied {
		if s.Remote == a {
			return s.Peer, true
		}
	}
	return "", false
}

// Plan implements runtime.Driver. A peer gets steps only when the
// connection generated for it changed (policies, interfaces, start/stop
// included): first the old one is unloaded, then the new one loaded.
func (d *Driver) Plan(ctx context.Context, from, to *config.Config) ([]runtime.Step, error) {
	fromSpecs, err := buildSpecs(from)
	if err != nil {
		return nil, fmt.Errorf("running configuration: %w", err)
	}
	toSpecs, err := buildSpecs(to)
	if err != nil {
		return nil, err
	}
	fm, tm := byName(fromSpecs), byName(toSpecs)
	stmt := func(s *connSpec, cfg *config.Config) string {
		fs, ts := service(from), service(to)
		if fs != ts {
			return ts
		}
		return "ipsec peer " + s.Peer
	}
	var steps []runtime.Step
	for _, old := range fromSpecs {
		if nw := tm[old.Name]; nw == nil || !old.equal(nw) {
			steps = append(steps, d.unloadStep(old, stmt(old, from)))
		}
	}
	var state map[string]string
	for _, nw := range toSpecs {
		if old := fm[nw.Name]; old != nil && old.equal(nw) {
			// Unchanged in the configuration: re-assert it only when
			// charon lost it (restarted, killed, namespace recreated).
			if state == nil {
				state = d.loadedFingerprints(ctx)
			}
			if fp, ok := state[nw.Name]; ok && fp == nw.fingerprint(d.stateKey()) {
				continue
			}
		} else if old == nil {
			// A new process may plan from an empty configuration while a
			// charon that outlived the previous one still runs exactly
			// this connection: leave it alone.
			if state == nil {
				state = d.loadedFingerprints(ctx)
			}
			if fp, ok := state[nw.Name]; ok && fp == nw.fingerprint(d.stateKey()) {
				d.setApplied(nw)
				continue
			}
		}
		steps = append(steps, d.loadStep(nw, stmt(nw, to)))
	}
	return steps, nil
}

func service(c *config.Config) string {
	if c == nil {
		return "no ipsec start"
	}
	switch c.IPsec {
	case config.IPsecStarted:
		return "ipsec start"
	case config.IPsecStopped:
		return "ipsec stop"
	}
	return "no ipsec start"
}

func byName(specs []*connSpec) map[string]*connSpec {
	m := make(map[string]*connSpec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	return m
}

func (d *Driver) loadStep(s *connSpec, stmt string) runtime.Step {
	return runtime.Step{
		Driver: d.Name(),
		Stmt:   stmt,
		Desc:   "load IPsec connection " + s.Name + " (" + s.summary() + ")",
		Do: func(ctx context.Context) error {
			if err := d.ensureCharon(ctx); err != nil {
				return err
			}
			return d.load(ctx, s)
		},
		Undo: func(ctx context.Context) error { return d.unload(ctx, s) },
	}
}

func (d *Driver) unloadStep(s *connSpec, stmt string) runtime.Step {
	return runtime.Step{
		Driver: d.Name(),
		Stmt:   stmt,
		Desc:   "terminate and unload IPsec connection " + s.Name,
		Do:     func(ctx context.Context) error { return d.unload(ctx, s) },
		Undo: func(ctx context.Context) error {
			if err := d.ensureCharon(ctx); err != nil {
				return err
			}
			return d.load(ctx, s)
		},
	}
}

// load gives charon the secret and the connection of one peer.
func (d *Driver) load(ctx context.Context, s *connSpec) error {
	sh, err := vici.MarshalMessage(&viciShared{ID: s.Name, Type: "IKE", Data: s.PSK, Owners: s.Owners})
	if err != nil {
		return err
	}
	if _, err := d.cl.call(ctx, "load-shared", sh); err != nil {
		return fmt.Errorf("loading the pre-shared key of %s: %w", s.Name, err)
	}
	cm, err := vici.MarshalMessage(&s.Conn)
	if err != nil {
		return err
	}
	in := vici.NewMessage()
	if err := in.Set(s.Name, cm); err != nil {
		return err
	}
	if _, err := d.cl.call(ctx, "load-conn", in); err != nil {
		_ = d.unloadShared(ctx, s.Name)
		return fmt.Errorf("loading connection %s: %w", s.Name, err)
	}
	d.track.forget(s.Peer)
	d.setApplied(s)
	d.supervise.Store(true)
	return nil
}

// unload terminates the peer's SAs and removes its connection and secret.
// A charon that is not running has nothing loaded.
func (d *Driver) unload(ctx context.Context, s *connSpec) error {
	defer d.removeApplied(s)
	if !d.connectExisting(ctx) {
		return nil
	}
	u := vici.NewMessage()
	_ = u.Set("name", s.Name)
	if _, err := d.cl.call(ctx, "unload-conn", u); err != nil && !isCmdError(err) {
		return fmt.Errorf("unloading connection %s: %w", s.Name, err)
	}
	if err := d.terminate(ctx, s.Name); err != nil {
		return err
	}
	if err := d.unloadShared(ctx, s.Name); err != nil && !isCmdError(err) {
		return err
	}
	return nil
}

func (d *Driver) unloadShared(ctx context.Context, id string) error {
	m := vici.NewMessage()
	_ = m.Set("id", id)
	if _, err := d.cl.call(ctx, "unload-shared", m); err != nil {
		return fmt.Errorf("unloading the pre-shared key of %s: %w", id, err)
	}
	return nil
}

// terminate closes every IKE_SA of a connection: a DELETE to the peer,
// and after terminateTimeout the SA is destroyed anyway.
func (d *Driver) terminate(ctx context.Context, conn string) error {
	m := vici.NewMessage()
	_ = m.Set("ike", conn)
	_ = m.Set("force", "yes")
	_ = m.Set("timeout", fmt.Sprint(terminateTimeout))
	if _, err := d.cl.call(ctx, "terminate", m); err != nil {
		if isCmdError(err) { // "no matching SAs to terminate found"
			return nil
		}
		return fmt.Errorf("terminating %s: %w", conn, err)
	}
	return nil
}

// Clear re-initiates the SAs of one peer (all peers when peer is ""):
// `clear ipsec sa [peer X]`. A responder-only peer's SAs are closed; the
// peer will negotiate new ones.
func (d *Driver) Clear(ctx context.Context, peer string) error {
	if !d.connectExisting(ctx) {
		if peer != "" {
			return errors.New("IPsec is not running (charon does not answer)")
		}
		return nil
	}
	conns, err := d.loadedConns(ctx)
	if err != nil {
		return err
	}
	if peer != "" {
		conns = slices.DeleteFunc(conns, func(c loadedConn) bool { return c.peer != peer })
		if len(conns) == 0 {
			return fmt.Errorf("no IPsec peer %s is running", peer)
		}
	}
	var errs []error
	for _, c := range conns {
		if err := d.terminate(ctx, c.name); err != nil {
			errs = append(errs, err)
			continue
		}
		d.track.forget(c.peer)
		if c.responder {
			continue
		}
		for _, child := range c.children {
			m := vici.NewMessage()
			_ = m.Set("ike", c.name)
			_ = m.Set("child", child)
			_ = m.Set("timeout", "-1") // do not wait for the peer
			if _, err := d.cl.call(ctx, "initiate", m); err != nil {
				errs = append(errs, fmt.Errorf("initiating %s: %w", c.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Drift implements runtime.Driver: connections charon should have and
// does not (or has in another version), and connections of ours it should
// not have. Whether SAs are up is status, not drift.
func (d *Driver) Drift(ctx context.Context, cfg *config.Config) ([]string, error) {
	want, err := buildSpecs(cfg)
	if err != nil {
		return nil, err
	}
	if !d.connectExisting(ctx) {
		if len(want) == 0 {
			return nil, nil
		}
		return []string{"ipsec: charon is not running; " + fmt.Sprint(len(want)) + " peer(s) not loaded"}, nil
	}
	have, err := d.listConnNames(ctx)
	if err != nil {
		return nil, err
	}
	fps := d.loadedFingerprints(ctx)
	key := d.stateKey()
	var out []string
	wm := byName(want)
	for _, s := range want {
		switch {
		case !have[s.Name]:
			out = append(out, fmt.Sprintf("ipsec peer %s: connection %s is not loaded in charon", s.Peer, s.Name))
		case fps[s.Name] != "" && fps[s.Name] != s.fingerprint(key):
			out = append(out, fmt.Sprintf("ipsec peer %s: charon runs another version of connection %s", s.Peer, s.Name))
		}
	}
	for _, n := range sortedKeys(have) {
		if _, ours := PeerOfConn(n); ours && wm[n] == nil {
			out = append(out, fmt.Sprintf("ipsec: charon has connection %s that the configuration does not have", n))
		}
	}
	return out, nil
}

func (d *Driver) listConnNames(ctx context.Context) (map[string]bool, error) {
	conns, err := d.loadedConns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range conns {
		out[c.name] = true
	}
	return out, nil
}

// --- bookkeeping: what is loaded, with fingerprints in RunDir ---

func (d *Driver) statePath() string { return filepath.Join(d.opts.RunDir, "loaded.json") }

// stateKey is the HMAC key of the fingerprints, created once per RunDir.
func (d *Driver) stateKey() []byte {
	p := filepath.Join(d.opts.RunDir, "state.key")
	if b, err := os.ReadFile(p); err == nil && len(b) == 32 {
		return b
	}
	key := make([]byte, 32)
	if _, err := randRead(key); err != nil {
		return nil
	}
	if err := os.MkdirAll(d.opts.RunDir, 0o700); err == nil {
		_ = writeFile0600(p, key)
	}
	return key
}

// loadedFingerprints returns the fingerprints of our connections that
// charon has loaded now (connections missing from charon are dropped).
func (d *Driver) loadedFingerprints(ctx context.Context) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(d.statePath())
	if err != nil {
		return out
	}
	if json.Unmarshal(b, &out) != nil {
		return map[string]string{}
	}
	if len(out) == 0 || !d.connectExisting(ctx) {
		return map[string]string{}
	}
	have, err := d.listConnNames(ctx)
	if err != nil {
		return map[string]string{}
	}
	for k := range out {
		if !have[k] {
			delete(out, k)
		}
	}
	return out
}

func (d *Driver) writeState() {
	d.amu.Lock()
	defer d.amu.Unlock()
	key := d.stateKey()
	m := map[string]string{}
	for n, s := range d.applied {
		m[n] = s.fingerprint(key)
	}
	b, _ := json.Marshal(m)
	if err := os.MkdirAll(d.opts.RunDir, 0o700); err == nil {
		_ = writeFile0600(d.statePath(), b)
	}
}

func (d *Driver) setApplied(s *connSpec) {
	d.amu.Lock()
	d.applied[s.Name] = s
	d.amu.Unlock()
	d.writeState()
}

func (d *Driver) removeApplied(s *connSpec) {
	d.amu.Lock()
	delete(d.applied, s.Name)
	empty := len(d.applied) == 0
	d.amu.Unlock()
	if empty {
		d.supervise.Store(false)
	}
	d.writeState()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
