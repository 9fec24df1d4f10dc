package ipsec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/strongswan/govici/vici"
)

// Reason is why a peer's SA is not up, as far as charon has said.
type Reason struct {
	Code string    `json:"code"` // no-response, proposal-mismatch, auth-failed, unreachable, ts-mismatch, kernel, closed, deleted-by-peer
	Text string    `json:"text"` // one line for operators
	Log  string    `json:"log"`  // the charon log line it was derived from
	At   time.Time `json:"at"`
}

// Reason codes.
const (
	ReasonNoResponse       = "no-response"
	ReasonProposalMismatch = "proposal-mismatch"
	ReasonAuthFailed       = "auth-failed"
	ReasonUnreachable      = "unreachable"
	ReasonTSMismatch       = "ts-mismatch"
	ReasonNoConfig         = "no-config"
	ReasonKernel           = "kernel"
	ReasonDeletedByPeer    = "deleted-by-peer"
	ReasonClosed           = "closed"
)

type rule struct {
	match func(string) bool
	code  string
	text  string
}

func has(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, x := range subs {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	}
}

// rules classify charon log lines, most specific first.
var rules = []rule{
	{has("giving up after", "retransmits"), ReasonNoResponse, "no response from peer"},
	{has("retransmit", "of request"), ReasonNoResponse, "no response from peer yet (retransmitting)"},
	{has("no IKE config found"), ReasonNoConfig, "no configuration for the peer's address"},
	{has("NO_PROPOSAL_CHOSEN", "no CHILD_SA built"), ReasonProposalMismatch, "peer refused the CHILD_SA: ESP proposal mismatch, or the peer failed to install it"},
	{has("NO_PROPOSAL_CHOSEN"), ReasonProposalMismatch, "proposal mismatch: peer accepted none of our IKE proposals"},
	{has("no acceptable proposal found"), ReasonProposalMismatch, "proposal mismatch: none of the peer's proposals is acceptable"},
	{has("received proposals unacceptable"), ReasonProposalMismatch, "proposal mismatch: none of the peer's proposals is acceptable"},
	{has("AUTHENTICATION_FAILED"), ReasonAuthFailed, "authentication failed: peer rejected our pre-shared key or identity"},
	{has("MAC mismatched"), ReasonAuthFailed, "authentication failed: pre-shared key mismatch"},
	{has("no shared key found"), ReasonAuthFailed, "authentication failed: no pre-shared key for these identities"},
	{has("no matching peer config found"), ReasonNoConfig, "peer identity does not match the configuration"},
	{has("TS_UNACCEPTABLE"), ReasonTSMismatch, "traffic selectors (local-net/remote-net) do not match the peer's"},
	{has("no acceptable traffic selectors"), ReasonTSMismatch, "traffic selectors (local-net/remote-net) do not match the peer's"},
	{has("unreachable"), ReasonUnreachable, "peer unreachable"},
	{has("No route to host"), ReasonUnreachable, "peer unreachable: no route to host"},
	{has("unable to resolve"), ReasonUnreachable, "peer address cannot be resolved"},
	{has("no local address found"), ReasonUnreachable, "no local address to reach the peer"},
	{has("unable to install"), ReasonKernel, "kernel refused to install the IPsec SA or policy"},
	{has("received DELETE for IKE_SA"), ReasonDeletedByPeer, "closed by peer"},
}

func classify(msg string) (code, text string, ok bool) {
	for _, r := range rules {
		if r.match(msg) {
			return r.code, r.text, true
		}
	}
	return "", "", false
}

var hostInLog = regexp.MustCompile(`(?:from|to) ([0-9a-fA-F.:]+)\[\d+\]`)

// remoteInLog finds the peer's address in the log lines that carry it.
var remoteInLog = []*regexp.Regexp{
	regexp.MustCompile(`^received packet: from ([0-9a-fA-F.:]+)\[`),
	regexp.MustCompile(`^sending packet: from \S+ to ([0-9a-fA-F.:]+)\[`),
	regexp.MustCompile(`^initiating .*IKE_SA \S+ to ([0-9a-fA-F.:]+)$`),
}

// tracker keeps, per peer, the last reason charon gave for an SA not
// being up. It is fed from VICI events (`log`, `ike-updown`,
// `child-updown`) and from charon's log file, which outlives mboxsh
// processes.
type tracker struct {
	mu      sync.Mutex
	reasons map[string]Reason // by peer name
	// IKE_SAs seen in log lines: unique id -> remote host, so lines that
	// name no connection yet (a responder before it picked one) can still
	// be attributed.
	remotes map[string]netip.Addr
	// byRemote maps a peer address to its peer name.
	byRemote func(netip.Addr) (string, bool)
	// lastSent is the destination of the last "sending packet" line: the
	// socket's "error writing to socket" line that follows names no SA.
	lastSent   netip.Addr
	lastSentAt time.Time
}

func newTracker(byRemote func(netip.Addr) (string, bool)) *tracker {
	return &tracker{reasons: map[string]Reason{}, remotes: map[string]netip.Addr{}, byRemote: byRemote}
}

func (t *tracker) reason(peer string) (Reason, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.reasons[peer]
	return r, ok
}

func (t *tracker) forget(peer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reasons, peer)
}

func str(m *vici.Message, key string) string {
	if m == nil {
		return ""
	}
	s, _ := m.Get(key).(string)
	return s
}

func (t *tracker) handle(ev vici.Event) {
	now := ev.Timestamp
	if now.IsZero() {
		now = time.Now()
	}
	switch ev.Name {
	case "log":
		t.observe(str(ev.Message, "ikesa-name"), str(ev.Message, "ikesa-uniqueid"), str(ev.Message, "msg"), now)
	case "ike-updown", "child-updown":
		up := str(ev.Message, "up") == "yes"
		for _, name := range ev.Message.Keys() {
			if _, ok := PeerOfConn(name); !ok {
				continue
			}
			sa, _ := ev.Message.Get(name).(*vici.Message)
			t.updown(ev.Name == "ike-updown", name, str(sa, "uniqueid"), up, now)
		}
	}
}

var (
	ikeUpInLog   = regexp.MustCompile(`^IKE_SA \S+\[\d+\] established between`)
	childUpInLog = regexp.MustCompile(`^CHILD_SA \S+\{\d+\} established with SPIs`)
)

// updown records an IKE_SA (ike) or CHILD_SA going up or down.
func (t *tracker) updown(ike bool, conn, id string, up bool, at time.Time) {
	peer, ok := PeerOfConn(conn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, had := t.reasons[peer]
	switch {
	case up && ike:
		// Earlier failures no longer apply, except a CHILD_SA failure
		// from the same exchange (kept until a CHILD_SA is up).
		if had && r.Code != ReasonKernel && r.Code != ReasonTSMismatch && r.Code != ReasonProposalMismatch {
			delete(t.reasons, peer)
		}
	case up:
		delete(t.reasons, peer)
	case ike:
		if !had {
			t.reasons[peer] = Reason{Code: ReasonClosed, Text: "IKE_SA closed", At: at}
		}
		delete(t.remotes, id)
	}
}

// observe classifies one charon log line. name and id are the IKE_SA's
// connection name and unique id, when the line has them.
func (t *tracker) observe(name, id, msg string, at time.Time) {
	if ikeUpInLog.MatchString(msg) {
		t.updown(true, name, id, true, at)
		return
	}
	if childUpInLog.MatchString(msg) {
		t.updown(false, name, id, true, at)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != "" {
		if len(t.remotes) > 4096 {
			// IKE_SAs that die half-open never report ike-updown.
			t.remotes = map[string]netip.Addr{}
		}
		for _, re := range remoteInLog {
			if sm := re.FindStringSubmatch(msg); sm != nil {
				if a, err := netip.ParseAddr(sm[1]); err == nil {
					t.remotes[id] = a
					if strings.HasPrefix(msg, "sending packet") {
						t.lastSent, t.lastSentAt = a, at
					}
				}
				break
			}
		}
	}
	code, text, ok := classify(msg)
	if !ok {
		return
	}
	peer, ok := PeerOfConn(name)
	if !ok && t.byRemote != nil {
		if a, known := t.remotes[id]; known {
			peer, ok = t.byRemote(a)
		}
		if !ok && code == ReasonUnreachable && t.lastSent.IsValid() && at.Sub(t.lastSentAt) < 2*time.Second {
			peer, ok = t.byRemote(t.lastSent)
		}
		if !ok {
			if sm := hostInLog.FindStringSubmatch(msg); sm != nil {
				if a, err := netip.ParseAddr(sm[1]); err == nil {
					peer, ok = t.byRemote(a)
				}
			}
		}
	}
	if !ok {
		return
	}
	// A retransmission notice does not replace a more precise reason.
	if old, exists := t.reasons[peer]; exists && code == ReasonNoResponse && old.Code != ReasonNoResponse && at.Sub(old.At) < 5*time.Minute {
		return
	}
	t.reasons[peer] = Reason{Code: code, Text: text, Log: msg, At: at}
}

// logLine matches a line of the log of a charon mboxsh runs
// (time_format %F %T, ike_name yes):
// "2026-11-27 07:24:27 13[IKE] <mboxsh-203.0.113.2|1> no shared key found …"
var logLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \d+\[\w+\] (?:<(?:([^|>]*)\|)?(\d+)> )?(.*)$`)

// feedLog runs the lines of a charon log through the tracker.
func (t *tracker) feedLog(text string) {
	for _, line := range strings.Split(text, "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05", m[1], time.Local)
		if err != nil {
			continue
		}
		t.observe(m[2], m[3], m[4], at)
	}
}

// startEvents runs the event session for the charon at path (once per
// path): it follows charon across restarts and, for a charon mboxsh owns,
// restarts it and reloads the connections when it died.
func (d *Driver) startEvents(path string) {
	d.emu.Lock()
	defer d.emu.Unlock()
	if d.evPath == path && d.evCancel != nil {
		return
	}
	if d.evCancel != nil {
		d.evCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.evPath, d.evCancel = path, cancel
	done := make(chan struct{})
	d.evDone = done
	kick := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.eventLoop(ctx, path, kick)
	}()
	go func() {
		defer wg.Done()
		d.dedupeLoop(ctx, kick)
	}()
	go func() {
		wg.Wait()
		close(done)
	}()
}

func (d *Driver) stopEvents() {
	d.emu.Lock()
	cancel, done := d.evCancel, d.evDone
	d.evCancel, d.evPath, d.evDone = nil, "", nil
	d.emu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (d *Driver) eventLoop(ctx context.Context, path string, kick chan<- string) {
	connected := false
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		ch, closeAll, err := eventSessions(ctx, path)
		if err != nil {
			d.restartCharon(ctx)
			continue
		}
		if connected {
			// charon may have been restarted: it then lost our
			// connections and secrets.
			d.resync(ctx)
		}
		connected = true
		stop := context.AfterFunc(ctx, closeAll)
		for ev := range ch {
			d.track.handle(ev)
			if ev.Name == "ike-updown" && str(ev.Message, "up") == "yes" {
				for _, name := range ev.Message.Keys() {
					if _, ours := PeerOfConn(name); ours {
						select {
						case kick <- name:
						case <-ctx.Done():
						}
					}
				}
			}
		}
		stop()
		closeAll()
		if ctx.Err() == nil {
			d.logf("ipsec: lost the VICI event session to charon at %s; reconnecting", path)
		}
	}
}

// eventSessions opens one VICI session per event type and merges their
// events. One type per session: govici v0.8.1 holds its event lock while it
// waits for a subscription's confirmation, and its reader blocks on that
// lock when an event of an already subscribed type arrives meanwhile, a
// deadlock (seen with Subscribe("ike-updown", "child-updown", "log")).
// The merged channel is closed when any session ends.
func eventSessions(ctx context.Context, path string) (<-chan vici.Event, func(), error) {
	var sessions []*vici.Session
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			for _, s := range sessions {
				s.Close()
			}
		})
	}
	var chans []chan vici.Event
	for _, typ := range []string{"log", "ike-updown", "child-updown"} {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, _, err := dialVici(dctx, path)
		cancel()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		sessions = append(sessions, s)
		ch := make(chan vici.Event, 512)
		s.NotifyEvents(ch)
		if err := s.Subscribe(typ); err != nil {
			closeAll()
			return nil, nil, err
		}
		chans = append(chans, ch)
	}
	out := make(chan vici.Event, 1024)
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				out <- ev
			}
			closeAll() // one ended: charon went away; end them all
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, closeAll, nil
}

// restartCharon starts again a charon mboxsh owns that died while this
// driver had connections loaded.
func (d *Driver) restartCharon(ctx context.Context) {
	if !d.supervise.Load() || !d.owned.Load() {
		return
	}
	if err := d.ensureCharon(ctx); err != nil {
		d.logf("ipsec: restarting charon: %v", err)
	}
}

// resync loads again the connections this driver loaded that charon no
// longer has.
func (d *Driver) resync(ctx context.Context) {
	if !d.supervise.Load() {
		return
	}
	specs := d.appliedSpecs()
	if len(specs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	have, err := d.listConnNames(ctx)
	if err != nil {
		d.logf("ipsec: listing connections after reconnecting: %v", err)
		return
	}
	n := 0
	for _, s := range specs {
		if have[s.Name] {
			continue
		}
		if err := d.load(ctx, s); err != nil {
			d.logf("ipsec: reloading %s: %v", s.Name, err)
			continue
		}
		n++
	}
	if n > 0 {
		d.logf("ipsec: charon had lost %d connection(s); reloaded", n)
	}
}

// Duplicate IKE_SAs are looked for a little after an IKE_SA of the
// connection came up (its CHILD_SA is installed by then), again while the
// connection has SAs still being negotiated, and by a sweep of every
// mboxsh connection charon has every dedupeSweep, in case an event was
// missed (a VICI event session that was being re-established).
const (
	dedupeDelay = 2 * time.Second
	dedupeRetry = 3 * time.Second
	dedupeTries = 20
	dedupeSweep = 15 * time.Second
)

// dedupeLoop runs the duplicate checks of this driver's connections until
// ctx ends. kick receives the names of connections that had an IKE_SA come
// up.
func (d *Driver) dedupeLoop(ctx context.Context, kick <-chan string) {
	due := map[string]*dedupeCheck{}
	sweep := time.NewTicker(dedupeSweep)
	defer sweep.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Now().Add(time.Hour)
		for _, c := range due {
			if c.at.Before(next) {
				next = c.at
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case conn := <-kick:
			due[conn] = &dedupeCheck{at: time.Now().Add(dedupeDelay)}
		case <-sweep.C:
			d.runDedupe(ctx, due, true)
		case <-timer.C:
			d.runDedupe(ctx, due, false)
		}
	}
}

// dedupeCheck is a pending duplicate check of one connection.
type dedupeCheck struct {
	at    time.Time
	tries int
}

// runDedupe runs the checks that are due, with one listing of charon's
// connections for all of them; with all, every connection of mboxsh that
// charon has is due (the sweep).
func (d *Driver) runDedupe(ctx context.Context, due map[string]*dedupeCheck, all bool) {
	now := time.Now()
	conns, err := d.loadedConns(ctx)
	if err != nil {
		d.logf("ipsec: looking for duplicate SAs: %v", err)
		for _, c := range due {
			c.at = now.Add(dedupeRetry)
		}
		return
	}
	byName := make(map[string]*loadedConn, len(conns))
	for i := range conns {
		byName[conns[i].name] = &conns[i]
		if _, ours := PeerOfConn(conns[i].name); ours && all && due[conns[i].name] == nil {
			due[conns[i].name] = &dedupeCheck{at: now}
		}
	}
	for conn, c := range due {
		if c.at.After(now) {
			continue
		}
		settled, err := d.dedupe(ctx, byName[conn])
		if err != nil {
			d.logf("ipsec: %s: removing duplicate SAs: %v", conn, err)
		}
		c.tries++
		if settled || c.tries >= dedupeTries {
			delete(due, conn)
			continue
		}
		c.at = now.Add(dedupeRetry)
	}
}

// dedupe removes duplicate IKE_SAs of a loaded connection (nil: gone).
// Two mboxsh peers can both negotiate at the same moment (the lower address initiates at once
// and retries, traffic on the other end triggers its trap), and charon
// keeps both pairs of SAs (unique=never: with uniqueness checks, charon
// destroys SAs silently on INITIAL_CONTACT, and a simultaneous start can
// leave one end with an SA the other end no longer has). Both ends apply
// the same rule (keepSA) to the same set of SAs and delete the others with
// a DELETE, so they agree on the one left.
// settled is false while an IKE_SA of the connection is still being
// negotiated beside an established one: the check is then repeated.
func (d *Driver) dedupe(ctx context.Context, lc *loadedConn) (settled bool, err error) {
	if lc == nil || lc.responder {
		return true, nil
	}
	la, err1 := netip.ParseAddr(lc.local)
	ra, err2 := netip.ParseAddr(lc.remote)
	if err1 != nil || err2 != nil || la == ra {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn := lc.name
	m := vici.NewMessage()
	_ = m.Set("ike", conn)
	sas, err := d.cl.stream(ctx, "list-sas", "list-sa", m)
	if err != nil {
		return false, err
	}
	var est []ikeSA
	negotiating := 0
	for _, msg := range sas {
		sa, _ := msg.Get(conn).(*vici.Message)
		if sa == nil {
			continue
		}
		switch str(sa, "state") {
		case "ESTABLISHED":
			est = append(est, ikeSA{str(sa, "uniqueid"), str(sa, "initiator") == "yes", atoi(str(sa, "established"))})
		case "CONNECTING":
			negotiating++
		}
	}
	if len(est) < 2 {
		return negotiating == 0 || len(est) == 0, nil
	}
	if negotiating > 0 {
		return false, nil // let it end first: it may be the one to keep
	}
	keep := keepSA(est, la.Less(ra))
	var errs []error
	for i, s := range est {
		if i == keep {
			continue
		}
		t := vici.NewMessage()
		_ = t.Set("ike-id", s.id)
		_ = t.Set("timeout", fmt.Sprint(terminateTimeout))
		_ = t.Set("force", "yes")
		if _, err := d.cl.call(ctx, "terminate", t); err != nil {
			if !isCmdError(err) { // a command error: already gone
				errs = append(errs, err)
			}
			continue
		}
		d.logf("ipsec: %s: deleted duplicate IKE_SA #%s (kept #%s)", conn, s.id, est[keep].id)
	}
	return len(errs) == 0, errors.Join(errs...)
}

// ikeSA is an established IKE_SA as dedupe sees it.
type ikeSA struct {
	id          string
	initiator   bool  // this end initiated it
	established int64 // seconds ago
}

// simultaneousWindow (seconds): IKE_SAs established within this time of the
// newest one come from simultaneous initiations; older ones are left over
// from an earlier association (the peer restarted, say) and lose to the
// newest.
const simultaneousWindow = 10

// keepSA chooses which of a connection's established IKE_SAs to keep, the
// same at both ends: among those established together with the newest
// (within simultaneousWindow), the one initiated by the lower address of
// the two (localIsLower tells which end this is), else the newest; ties go
// to the newest.
func keepSA(sas []ikeSA, localIsLower bool) int {
	newest := sas[0].established
	for _, s := range sas {
		newest = min(newest, s.established)
	}
	better := func(a, b ikeSA) bool { // a is better than b
		aLow, bLow := a.initiator == localIsLower, b.initiator == localIsLower
		if aLow != bLow {
			return aLow
		}
		return a.established < b.established
	}
	keep := -1
	for i, s := range sas {
		if s.established-newest > simultaneousWindow {
			continue
		}
		if keep < 0 || better(s, sas[keep]) {
			keep = i
		}
	}
	return keep
}
