package ipsec

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Status is the state of IPsec for `show ipsec sa` / `show ipsec status`.
type Status struct {
	Running bool         `json:"running"`           // charon answers
	Daemon  string       `json:"daemon"`            // "charon 5.9.8"
	Owned   bool         `json:"owned"`             // charon was started by mboxsh
	Since   time.Time    `json:"since,omitzero"`    // charon's start
	Now     time.Time    `json:"now"`               // when the status was taken
	Gateway string       `json:"gateway,omitempty"` // set by the caller (the default gateway) for the table header
	Peers   []PeerStatus `json:"peers"`
}

// PeerStatus is one `ipsec peer`: its IKE_SA (the best one when there are
// several, e.g. during a rekey) and all its CHILD_SAs.
type PeerStatus struct {
	Peer      string `json:"peer"`
	Conn      string `json:"conn"`
	Loaded    bool   `json:"loaded"`    // the connection is loaded in charon
	Responder bool   `json:"responder"` // answers only (remote-ip any)
	// State is the IKE_SA state (ESTABLISHED, CONNECTING, REKEYING,
	// DELETING, …) or DOWN when there is none.
	State       string    `json:"state"`
	Version     int       `json:"version"`
	Auth        string    `json:"auth"`
	Proposal    string    `json:"proposal,omitempty"` // AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048
	Initiator   bool      `json:"initiator"`
	SPIInit     string    `json:"spi_initiator,omitempty"`
	SPIResp     string    `json:"spi_responder,omitempty"`
	LocalAddr   string    `json:"local_addr,omitempty"`
	LocalPort   int       `json:"local_port,omitempty"`
	LocalID     string    `json:"local_id,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	RemotePort  int       `json:"remote_port,omitempty"`
	RemoteID    string    `json:"remote_id,omitempty"`
	Established time.Time `json:"established,omitzero"`
	RekeyAt     time.Time `json:"rekey_at,omitzero"`
	ReauthAt    time.Time `json:"reauth_at,omitzero"`
	// Configured selectors and ESP policy, for peers that are down too.
	LocalNets  []string      `json:"local_nets"`
	RemoteNets []string      `json:"remote_nets"`
	ESP        string        `json:"esp,omitempty"` // configured ESP proposal, e.g. aes128-sha1-modp2048
	IKESAs     int           `json:"ike_sas"`       // how many IKE_SAs the connection has
	Children   []ChildStatus `json:"children"`
	// Reason is why the SA is not (fully) up, as far as charon has said.
	Reason *Reason `json:"reason,omitempty"`
}

// ChildStatus is one CHILD_SA.
type ChildStatus struct {
	Name       string   `json:"name"`
	UniqueID   string   `json:"unique_id"`
	State      string   `json:"state"`    // INSTALLED, REKEYED, …
	Mode       string   `json:"mode"`     // TRANSPORT, TUNNEL
	Protocol   string   `json:"protocol"` // ESP
	Encap      bool     `json:"udp_encap"`
	SPIIn      string   `json:"spi_in"`     // 8 hex digits
	SPIOut     string   `json:"spi_out"`    // 8 hex digits
	Encryption string   `json:"encryption"` // AES_CBC-128
	Integrity  string   `json:"integrity,omitempty"`
	DHGroup    string   `json:"pfs_group,omitempty"`
	LocalTS    []string `json:"local_ts"`
	RemoteTS   []string `json:"remote_ts"`
	BytesIn    uint64   `json:"bytes_in"`
	BytesOut   uint64   `json:"bytes_out"`
	PacketsIn  uint64   `json:"packets_in"`
	PacketsOut uint64   `json:"packets_out"`
	// ReplayErrors and IntegrityFailed are inbound kernel counters.
	ReplayErrors    uint32    `json:"replay_errors"`
	IntegrityFailed uint32    `json:"integrity_failed"`
	Counters        string    `json:"counters"` // "kernel" (XFRM) or "charon"
	Installed       time.Time `json:"installed,omitzero"`
	RekeyAt         time.Time `json:"rekey_at,omitzero"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	LastIn          time.Time `json:"last_in,omitzero"`
	LastOut         time.Time `json:"last_out,omitzero"`
}

// Up tells whether the peer has an established IKE_SA and an installed
// CHILD_SA.
func (p *PeerStatus) Up() bool {
	if p.State != "ESTABLISHED" {
		return false
	}
	for _, c := range p.Children {
		if c.State == "INSTALLED" {
			return true
		}
	}
	return false
}

type xfrmLister interface {
	XfrmStateList(family int) ([]netlink.XfrmState, error)
	Close()
}

func (d *Driver) xfrmHandle() (xfrmLister, error) {
	d.xmu.Lock()
	defer d.xmu.Unlock()
	if d.xfrm != nil {
		return d.xfrm, nil
	}
	ns := netns.None()
	if d.opts.NetNS != "" {
		h, err := netns.GetFromName(d.opts.NetNS)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		ns = h
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_XFRM)
	if err != nil {
		return nil, err
	}
	d.xfrm = h
	return h, nil
}

// Status reads the state of every peer of ours from charon (list-conns,
// list-sas) and the kernel (XFRM state counters). It never starts charon.
func (d *Driver) Status(ctx context.Context) (*Status, error) {
	now := time.Now()
	st := &Status{Now: now}
	applied := d.appliedSpecs()
	if !d.connectExisting(ctx) {
		for _, s := range applied {
			p := peerFromSpec(s)
			p.Reason = &Reason{Code: "not-running", Text: "IPsec is not running (charon does not answer)", At: now}
			st.Peers = append(st.Peers, p)
		}
		return st, nil
	}
	st.Running = true
	st.Owned = d.owned.Load()
	if v, err := d.cl.call(ctx, "version", nil); err == nil {
		st.Daemon = strings.TrimSpace(str(v, "daemon") + " " + str(v, "version"))
	}
	if m, err := d.cl.call(ctx, "stats", nil); err == nil {
		if up, ok := m.Get("uptime").(*vici.Message); ok {
			st.Since = parseCharonTime(str(up, "since"))
		}
	}
	conns, err := d.loadedConns(ctx)
	if err != nil {
		return nil, err
	}
	peers := map[string]*PeerStatus{}
	var order []string
	specs := byName(applied)
	for _, c := range conns {
		p := &PeerStatus{Peer: c.peer, Conn: c.name, State: "DOWN", Auth: "PSK",
			Version: c.version, LocalNets: c.localTS, RemoteNets: c.remoteTS,
			Responder: c.responder, LocalAddr: c.local, RemoteAddr: c.remote}
		if s := specs[c.name]; s != nil {
			*p = peerFromSpec(s)
		}
		p.Loaded = true
		peers[c.name] = p
		order = append(order, c.name)
	}
	for _, s := range applied {
		if peers[s.Name] == nil {
			p := peerFromSpec(s)
			p.Reason = &Reason{Code: "not-loaded", Text: "connection is not loaded in charon", At: now}
			peers[s.Name] = &p
			order = append(order, s.Name)
		}
	}

	sas, err := d.cl.stream(ctx, "list-sas", "list-sa", nil)
	if err != nil {
		return nil, err
	}
	counters := d.kernelCounters()
	for _, m := range sas {
		for _, name := range m.Keys() {
			peer, ours := PeerOfConn(name)
			if !ours {
				continue
			}
			p := peers[name]
			if p == nil {
				p = &PeerStatus{Peer: peer, Conn: name, State: "DOWN", Auth: "PSK"}
				peers[name] = p
				order = append(order, name)
			}
			sa, _ := m.Get(name).(*vici.Message)
			p.addIKESA(sa, now, counters)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return peerKey(peers[order[i]].Peer) < peerKey(peers[order[j]].Peer) })
	byRemote := func(a netip.Addr) (string, bool) {
		for _, p := range peers {
			if p.RemoteAddr == a.String() {
				return p.Peer, true
			}
		}
		return "", false
	}
	fromLog := d.logTracker(byRemote)
	for _, name := range order {
		p := peers[name]
		sort.Slice(p.Children, func(i, j int) bool { return p.Children[i].Installed.After(p.Children[j].Installed) })
		if p.Up() {
			p.Reason = nil
		} else if p.Reason == nil {
			r, ok := d.track.reason(p.Peer)
			if fromLog != nil {
				if lr, lok := fromLog.reason(p.Peer); lok && (!ok || lr.At.After(r.At)) {
					r, ok = lr, true
				}
			}
			if ok {
				p.Reason = &r
			}
		}
		if p.Reason == nil && !p.Up() {
			switch {
			case p.State == "ESTABLISHED":
				p.Reason = &Reason{Code: "no-child", Text: "IKE_SA up but no CHILD_SA installed", At: now}
			case p.State == "CONNECTING":
				p.Reason = &Reason{Code: "connecting", Text: "negotiating", At: now}
			case p.Responder:
				p.Reason = &Reason{Code: "waiting", Text: "waiting for the peer to connect", At: now}
			default:
				p.Reason = &Reason{Code: "down", Text: "not established (will start on traffic or retry)", At: now}
			}
		}
		st.Peers = append(st.Peers, *p)
	}
	return st, nil
}

func peerFromSpec(s *connSpec) PeerStatus {
	p := PeerStatus{Peer: s.Peer, Conn: s.Name, State: "DOWN", Auth: "PSK", Responder: s.Responder}
	p.Version, _ = strconv.Atoi(s.Conn.Version)
	for _, name := range sortedKeys(s.Conn.Children) {
		c := s.Conn.Children[name]
		p.LocalNets = append(p.LocalNets, c.LocalTS...)
		p.RemoteNets = append(p.RemoteNets, c.RemoteTS...)
		if len(c.ESPProposals) > 0 {
			p.ESP = c.ESPProposals[0]
		}
	}
	if s.Remote.IsValid() {
		p.RemoteAddr = s.Remote.String()
	}
	if len(s.Conn.LocalAddrs) > 0 {
		p.LocalAddr = s.Conn.LocalAddrs[0]
	}
	p.LocalNets, p.RemoteNets = uniq(p.LocalNets), uniq(p.RemoteNets)
	return p
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// loadedConn is one of our connections as charon lists it (list-conns):
// what a process that did not load it itself knows about it.
type loadedConn struct {
	name, peer        string
	version           int
	local, remote     string // "" for %any
	responder         bool
	children          []string
	localTS, remoteTS []string
}

// loadedConns lists our connections loaded in charon.
func (d *Driver) loadedConns(ctx context.Context) ([]loadedConn, error) {
	msgs, err := d.cl.stream(ctx, "list-conns", "list-conn", nil)
	if err != nil {
		return nil, err
	}
	var out []loadedConn
	for _, m := range msgs {
		for _, name := range m.Keys() {
			peer, ours := PeerOfConn(name)
			if !ours {
				continue
			}
			c, _ := m.Get(name).(*vici.Message)
			lc := loadedConn{name: name, peer: peer, version: versionNumber(str(c, "version"))}
			for _, a := range list(c, "local_addrs") {
				if a != "%any" && lc.local == "" {
					lc.local = a
				}
			}
			for _, a := range list(c, "remote_addrs") {
				if a == "%any" {
					lc.responder = true
				} else if lc.remote == "" {
					lc.remote = a
				}
			}
			if ch, _ := c.Get("children").(*vici.Message); ch != nil {
				for _, k := range ch.Keys() {
					cm, _ := ch.Get(k).(*vici.Message)
					lc.children = append(lc.children, k)
					lc.localTS = append(lc.localTS, list(cm, "local-ts")...)
					lc.remoteTS = append(lc.remoteTS, list(cm, "remote-ts")...)
				}
			}
			lc.localTS, lc.remoteTS = uniq(lc.localTS), uniq(lc.remoteTS)
			out = append(out, lc)
		}
	}
	return out, nil
}

func list(m *vici.Message, key string) []string {
	if m == nil {
		return nil
	}
	switch v := m.Get(key).(type) {
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

func versionNumber(s string) int {
	switch s {
	case "IKEv1", "1":
		return 1
	case "IKEv2", "2":
		return 2
	}
	return 0
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

var ikeStateRank = map[string]int{"ESTABLISHED": 5, "REKEYING": 4, "REKEYED": 3, "CONNECTING": 2, "PASSIVE": 1}

func (p *PeerStatus) addIKESA(sa *vici.Message, now time.Time, counters map[uint32]netlink.XfrmStateStats) {
	if sa == nil {
		return
	}
	p.IKESAs++
	state := str(sa, "state")
	est := time.Time{}
	if s := str(sa, "established"); s != "" {
		est = now.Add(-time.Duration(atoi(s)) * time.Second)
	}
	better := p.State == "DOWN" || ikeStateRank[state] > ikeStateRank[p.State] ||
		(ikeStateRank[state] == ikeStateRank[p.State] && est.After(p.Established))
	if better {
		p.State = state
		p.Version = int(atoi(str(sa, "version")))
		p.LocalAddr, p.LocalPort, p.LocalID = str(sa, "local-host"), int(atoi(str(sa, "local-port"))), str(sa, "local-id")
		p.RemoteAddr, p.RemotePort, p.RemoteID = str(sa, "remote-host"), int(atoi(str(sa, "remote-port"))), str(sa, "remote-id")
		p.Initiator = str(sa, "initiator") == "yes"
		p.SPIInit, p.SPIResp = str(sa, "initiator-spi"), str(sa, "responder-spi")
		p.Established = est
		p.RekeyAt, p.ReauthAt = time.Time{}, time.Time{}
		if s := str(sa, "rekey-time"); s != "" {
			p.RekeyAt = now.Add(time.Duration(atoi(s)) * time.Second)
		}
		if s := str(sa, "reauth-time"); s != "" {
			p.ReauthAt = now.Add(time.Duration(atoi(s)) * time.Second)
		}
		var parts []string
		if e := str(sa, "encr-alg"); e != "" {
			if k := str(sa, "encr-keysize"); k != "" {
				e += "-" + k
			}
			parts = append(parts, e)
		}
		for _, k := range []string{"integ-alg", "prf-alg", "dh-group"} {
			if v := str(sa, k); v != "" {
				parts = append(parts, v)
			}
		}
		p.Proposal = strings.Join(parts, "/")
	}
	children, _ := sa.Get("child-sas").(*vici.Message)
	if children == nil {
		return
	}
	for _, k := range children.Keys() {
		cm, _ := children.Get(k).(*vici.Message)
		if cm == nil {
			continue
		}
		c := ChildStatus{
			Name:       str(cm, "name"),
			UniqueID:   str(cm, "uniqueid"),
			State:      str(cm, "state"),
			Mode:       str(cm, "mode"),
			Protocol:   str(cm, "protocol"),
			Encap:      str(cm, "encap") == "yes",
			SPIIn:      str(cm, "spi-in"),
			SPIOut:     str(cm, "spi-out"),
			Integrity:  str(cm, "integ-alg"),
			DHGroup:    str(cm, "dh-group"),
			LocalTS:    list(cm, "local-ts"),
			RemoteTS:   list(cm, "remote-ts"),
			BytesIn:    atou(str(cm, "bytes-in")),
			BytesOut:   atou(str(cm, "bytes-out")),
			PacketsIn:  atou(str(cm, "packets-in")),
			PacketsOut: atou(str(cm, "packets-out")),
			Counters:   "charon",
		}
		c.Encryption = str(cm, "encr-alg")
		if k := str(cm, "encr-keysize"); k != "" {
			c.Encryption += "-" + k
		}
		if s := str(cm, "install-time"); s != "" {
			c.Installed = now.Add(-time.Duration(atoi(s)) * time.Second)
		}
		if s := str(cm, "rekey-time"); s != "" {
			c.RekeyAt = now.Add(time.Duration(atoi(s)) * time.Second)
		}
		if s := str(cm, "life-time"); s != "" {
			c.ExpiresAt = now.Add(time.Duration(atoi(s)) * time.Second)
		}
		if s := str(cm, "use-in"); s != "" {
			c.LastIn = now.Add(-time.Duration(atoi(s)) * time.Second)
		}
		if s := str(cm, "use-out"); s != "" {
			c.LastOut = now.Add(-time.Duration(atoi(s)) * time.Second)
		}
		if counters != nil {
			in, okIn := counters[spiValue(c.SPIIn)]
			out, okOut := counters[spiValue(c.SPIOut)]
			if okIn && okOut {
				c.BytesIn, c.PacketsIn = in.Bytes, in.Packets
				c.BytesOut, c.PacketsOut = out.Bytes, out.Packets
				c.ReplayErrors, c.IntegrityFailed = in.Replay, in.Failed
				c.Counters = "kernel"
			}
		}
		p.Children = append(p.Children, c)
	}
}

func spiValue(hex string) uint32 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "0x"), 16, 32)
	return uint32(v)
}

// kernelCounters reads the XFRM ESP states of the namespace by SPI; nil
// when the kernel cannot be read.
func (d *Driver) kernelCounters() map[uint32]netlink.XfrmStateStats {
	h, err := d.xfrmHandle()
	if err != nil {
		return nil
	}
	var states []netlink.XfrmState
	for try := 0; try < 3; try++ {
		states, err = h.XfrmStateList(netlink.FAMILY_ALL)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil
	}
	out := map[uint32]netlink.XfrmStateStats{}
	for _, s := range states {
		if s.Proto == netlink.XFRM_PROTO_ESP {
			out[uint32(s.Spi)] = s.Statistics
		}
	}
	return out
}

// parseCharonTime reads strongSwan's "%T" time ("Nov 27 07:15:40 2026").
func parseCharonTime(s string) time.Time {
	for _, layout := range []string{"Jan _2 15:04:05 2006", "Jan 02 15:04:05 2006", "Jan 2 15:04:05 2006"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t
		}
	}
	return time.Time{}
}

func randRead(b []byte) (int, error) { return rand.Read(b) }

// peerKey orders peers in the table: by name as an address when it is one.
func peerKey(name string) string {
	if a, err := netip.ParseAddr(name); err == nil {
		return fmt.Sprintf("0%032x", a.As16())
	}
	return "1" + name
}

// Log file limits: the log of a charon mboxsh runs is cut back to its
// last logKeep bytes (kept in charon.log.1) when it exceeds logMax.
const (
	logMax  = 8 << 20
	logKeep = 1 << 20
	logScan = 512 << 10 // how much of the log's end Status reads
)

// logTracker reads the end of the log of our charon into a fresh tracker,
// so that a short-lived mboxsh process knows why an SA is down. nil when
// charon is not ours.
func (d *Driver) logTracker(byRemote func(netip.Addr) (string, bool)) *tracker {
	if !d.owned.Load() {
		return nil
	}
	path := filepath.Join(d.opts.RunDir, "charon.log")
	d.rotateLog(path)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-logScan, 0)
	buf := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(buf, off)
	text := string(buf[:n])
	if off > 0 {
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	t := newTracker(byRemote)
	t.feedLog(text)
	return t
}

// rotateLog keeps the log bounded. charon writes it through an O_APPEND
// descriptor, so truncating it in place is safe.
func (d *Driver) rotateLog(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= logMax {
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, logKeep)
	n, _ := f.ReadAt(buf, fi.Size()-logKeep)
	if writeFile0600(path+".1", buf[:n]) == nil {
		_ = f.Truncate(0)
	}
}
