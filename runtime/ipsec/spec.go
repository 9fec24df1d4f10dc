package ipsec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"mboxsh/config"
)

// ConnPrefix starts the name of every connection, CHILD_SA configuration and
// shared secret that mboxsh loads into charon. Everything else in charon
// (a system charon may carry other connections) is never touched.
const ConnPrefix = "mboxsh-"

// ConnName is the charon connection name of a peer.
func ConnName(peer string) string { return ConnPrefix + peer }

// PeerOfConn returns the peer name of one of our connection names.
func PeerOfConn(conn string) (string, bool) {
	if !strings.HasPrefix(conn, ConnPrefix) {
		return "", false
	}
	return strings.TrimPrefix(conn, ConnPrefix), true
}

// Timers that are not configurable in mboxsh's grammar.
const (
	dpdDelay         = "30s" // dead peer detection interval
	terminateTimeout = 2000  // ms to wait for the peer to acknowledge a DELETE
)

// viciConn is one swanctl.conf `connections.<name>` section, the message of
// load-conn. govici sends ints and bools always, so every optional value
// is a string (empty = omitted = charon's default).
type viciConn struct {
	LocalAddrs  []string             `vici:"local_addrs"`
	RemoteAddrs []string             `vici:"remote_addrs"`
	Version     string               `vici:"version"`
	Proposals   []string             `vici:"proposals"`
	RekeyTime   string               `vici:"rekey_time"`
	OverTime    string               `vici:"over_time"`
	DPDDelay    string               `vici:"dpd_delay"`
	KeyingTries string               `vici:"keyingtries"`
	Unique      string               `vici:"unique"`
	Mobike      string               `vici:"mobike"`
	Local       viciAuth             `vici:"local"`
	Remote      viciAuth             `vici:"remote"`
	Children    map[string]viciChild `vici:"children"`
}

type viciAuth struct {
	Auth string `vici:"auth"`
	ID   string `vici:"id"`
}

type viciChild struct {
	LocalTS      []string `vici:"local_ts"`
	RemoteTS     []string `vici:"remote_ts"`
	ESPProposals []string `vici:"esp_proposals"`
	Mode         string   `vici:"mode"`
	RekeyTime    string   `vici:"rekey_time"`
	LifeTime     string   `vici:"life_time"`
	StartAction  string   `vici:"start_action"`
	DPDAction    string   `vici:"dpd_action"`
	CloseAction  string   `vici:"close_action"`
}

// viciShared is the message of load-shared.
type viciShared struct {
	ID     string   `vici:"id"`
	Type   string   `vici:"type"`
	Data   string   `vici:"data"`
	Owners []string `vici:"owners"`
}

// connSpec is everything the driver hands charon for one `ipsec peer`.
type connSpec struct {
	Peer string // the peer's header word
	Name string // connection name (ConnName(Peer)); also the shared-secret id
	Conn viciConn
	// PSK is the pre-shared key. It is sent to charon with load-shared only,
	// never written anywhere, and String/summary never print it.
	PSK    string
	Owners []string
	// GRE is true when the CHILD_SA protects GRE (protocol 47) only.
	GRE bool
	// Responder is true for `remote-ip any` and for named peers without
	// an address: charon only answers, never initiates.
	Responder bool
	// Remote is the peer's address when it is known.
	Remote netip.Addr
}

// equal tells whether two specs would load the same thing into charon.
func (s *connSpec) equal(o *connSpec) bool {
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// fingerprint is an HMAC of the whole spec (PSK included) under key, so a
// state file can tell "charon already has exactly this" without holding
// the PSK.
func (s *connSpec) fingerprint(key []byte) string {
	b, _ := json.Marshal(s)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// summary describes the spec for a step description: never the PSK.
func (s *connSpec) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "IKEv%s %s", s.Conn.Version, strings.Join(s.Conn.Proposals, ","))
	for _, name := range sortedKeys(s.Conn.Children) {
		c := s.Conn.Children[name]
		fmt.Fprintf(&b, "; %s %s %s <-> %s", strings.ToLower(c.Mode), strings.Join(c.ESPProposals, ","),
			strings.Join(c.LocalTS, ","), strings.Join(c.RemoteTS, ","))
	}
	if s.Responder {
		b.WriteString("; responder only")
	}
	return b.String()
}

// encryption maps the grammar's encryption words to strongSwan algorithm
// tokens.
var encryption = map[string]string{
	"AES":     "aes128",
	"AES-128": "aes128",
	"AES-192": "aes192",
	"AES-256": "aes256",
	"3DES":    "3des",
}

// integrity maps the grammar's hash words to strongSwan integrity tokens.
var integrity = map[string]string{
	"MD5":     "md5",
	"MD5-128": "md5",
	"SHA":     "sha1",
	"SHA-1":   "sha1",
	"SHA1":    "sha1",
	"SHA-256": "sha256",
	"SHA256":  "sha256",
	"SHA-384": "sha384",
	"SHA-512": "sha512",
	"SHA512":  "sha512",
}

// dhGroups maps IANA Diffie-Hellman group numbers to strongSwan tokens.
var dhGroups = map[int]string{
	1: "modp768", 2: "modp1024", 5: "modp1536", 14: "modp2048", 15: "modp3072",
	16: "modp4096", 17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384",
	21: "ecp521", 22: "modp1024s160", 23: "modp2048s224", 24: "modp2048s256",
	25: "ecp192", 26: "ecp224", 27: "ecp224bp", 28: "ecp256bp", 29: "ecp384bp",
	30: "ecp512bp", 31: "curve25519", 32: "curve448",
}

// proposal builds one strongSwan proposal ("aes128-sha1-modp2048"). group
// 0 leaves the DH part out (ESP without PFS).
func proposal(enc, hash string, group int) (string, error) {
	e, ok := encryption[strings.ToUpper(enc)]
	if !ok {
		return "", fmt.Errorf("unsupported encryption %q (AES, AES-192, AES-256, 3DES)", enc)
	}
	h, ok := integrity[strings.ToUpper(hash)]
	if !ok {
		return "", fmt.Errorf("unsupported hash %q (MD5, SHA, SHA-256, SHA-512)", hash)
	}
	p := e + "-" + h
	if group != 0 {
		g, ok := dhGroups[group]
		if !ok {
			return "", fmt.Errorf("unsupported DH group %d", group)
		}
		p += "-" + g
	}
	return p, nil
}

// keylife turns a configured lifetime into charon's soft/hard pair: the SA
// is rekeyed at 90 % of keylife and never lives longer than keylife.
func keylife(sec int) (rekey, margin string) {
	if sec <= 0 {
		return "", ""
	}
	r := sec * 9 / 10
	if r < 1 {
		r = 1
	}
	return strconv.Itoa(r) + "s", strconv.Itoa(sec-r) + "s"
}

// greTunnel returns the GRE interface whose endpoints are exactly the
// peer's selectors (local-net = tunnel local/32, remote-net = tunnel
// remote/32), or nil.
func greTunnel(cfg *config.Config, p *config.Peer) *config.Interface {
	if len(p.LocalNet) != 1 || len(p.RemoteNet) != 1 {
		return nil
	}
	ln, rn := p.LocalNet[0], p.RemoteNet[0]
	if !ln.Addr().Is4() || !rn.Addr().Is4() || ln.Bits() != 32 || rn.Bits() != 32 {
		return nil
	}
	for _, i := range cfg.Interfaces {
		if i.Kind == config.KindGRE && i.TunnelLocal == ln.Addr() && i.TunnelRemote == rn.Addr() {
			return i
		}
	}
	return nil
}

// buildSpecs returns the connections a configuration asks charon for:
// none unless `ipsec start`.
func buildSpecs(cfg *config.Config) ([]*connSpec, error) {
	if cfg == nil || cfg.IPsec != config.IPsecStarted {
		return nil, nil
	}
	var out []*connSpec
	for _, p := range cfg.Peers {
		s, err := buildSpec(cfg, p)
		if err != nil {
			return nil, fmt.Errorf("ipsec peer %s: %w", p.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func buildSpec(cfg *config.Config, p *config.Peer) (*connSpec, error) {
	s := &connSpec{Peer: p.Name, Name: ConnName(p.Name), PSK: p.PSK}
	if p.PSK == "" {
		return nil, fmt.Errorf("no psk: only pre-shared key authentication is supported")
	}
	c := &s.Conn
	c.Version = "2"
	c.Proposals = []string{"default"}
	c.Mobike = "no"
	// No uniqueness policy: with one, charon silently destroys the other
	// SAs of a peer that sends INITIAL_CONTACT, which after a simultaneous
	// start can leave the two ends with different SAs. The driver deletes
	// duplicates (dedupe), DPD stale ones.
	c.Unique = "never"
	c.DPDDelay = dpdDelay
	c.Local = viciAuth{Auth: "psk", ID: p.LocalID}
	c.Remote = viciAuth{Auth: "psk", ID: p.RemoteID}
	if p.IKEPolicy != 0 {
		ike := cfg.IKEPolicy(p.IKEPolicy)
		if ike == nil {
			return nil, fmt.Errorf("ike-policy %d does not exist", p.IKEPolicy)
		}
		if ike.Authentication != "" && !strings.EqualFold(ike.Authentication, "psk") {
			return nil, fmt.Errorf("ike-policy %d: authentication %s is not supported (psk only)", ike.Number, ike.Authentication)
		}
		switch ike.Version {
		case 0, 2:
		case 1:
			c.Version = "1"
		default:
			return nil, fmt.Errorf("ike-policy %d: IKE version %d", ike.Number, ike.Version)
		}
		if ike.Encryption != "" {
			if ike.DHGroup == 0 {
				return nil, fmt.Errorf("ike-policy %d: a DH group is required", ike.Number)
			}
			prop, err := proposal(ike.Encryption, ike.Hash, ike.DHGroup)
			if err != nil {
				return nil, fmt.Errorf("ike-policy %d: %w", ike.Number, err)
			}
			c.Proposals = []string{prop}
		}
		c.RekeyTime, c.OverTime = keylife(ike.Keylife)
	}
	esp := []string{"default"}
	var childRekey, childLife string
	if p.ESPPolicy != 0 {
		e := cfg.ESPPolicy(p.ESPPolicy)
		if e == nil {
			return nil, fmt.Errorf("esp-policy %d does not exist", p.ESPPolicy)
		}
		if e.Encryption != "" {
			prop, err := proposal(e.Encryption, e.Hash, e.PFSGroup)
			if err != nil {
				return nil, fmt.Errorf("esp-policy %d: %w", e.Number, err)
			}
			esp = []string{prop}
		}
		if e.Keylife > 0 {
			r, _ := keylife(e.Keylife)
			childRekey, childLife = r, strconv.Itoa(e.Keylife)+"s"
		}
	}

	if p.Local.IsValid() {
		c.LocalAddrs = []string{p.Local.String()}
	}
	remote, ok := p.RemoteAddress()
	if ok && !strings.EqualFold(p.RemoteIP, "any") {
		s.Remote = remote
		c.RemoteAddrs = []string{remote.String()}
	} else {
		s.Responder = true
		c.RemoteAddrs = []string{"%any"}
	}
	// The peer must prove the remote identity: the configured remote-id,
	// else its address (the identity an IKE peer sends by default). The
	// PSK belongs to that identity. A responder without either accepts
	// any identity, and its key is nobody's in particular.
	switch {
	case p.RemoteID != "":
		s.Owners = []string{p.RemoteID}
	case s.Remote.IsValid():
		c.Remote.ID = s.Remote.String()
		s.Owners = []string{s.Remote.String()}
	}

	child := viciChild{
		ESPProposals: esp,
		RekeyTime:    childRekey,
		LifeTime:     childLife,
		Mode:         "tunnel",
	}
	if s.Responder {
		child.StartAction = "none"
		child.DPDAction = "clear"
	} else {
		// Trap policies catch traffic and negotiate on demand. One end
		// also initiates at once (start) and keeps retrying until the peer
		// answers (keyingtries 0), since the peers are configured one after
		// the other: the end with the lower address, so that two mboxsh
		// peers do not both initiate and end up with duplicate SAs. DPD
		// restarts a dead tunnel at once.
		child.StartAction = "trap"
		if initiates(localAddr(cfg, p), s.Remote) {
			child.StartAction = "trap|start"
		}
		child.DPDAction = "restart"
		c.KeyingTries = "0"
	}
	if t := greTunnel(cfg, p); t != nil {
		s.GRE = true
		child.LocalTS = []string{netip.PrefixFrom(t.TunnelLocal, 32).String() + "[47]"}
		child.RemoteTS = []string{netip.PrefixFrom(t.TunnelRemote, 32).String() + "[47]"}
		// Transport mode when IKE runs between the same two addresses as
		// GRE; otherwise (GRE between loopbacks) tunnel mode between the
		// two /32s, still GRE only.
		localOK := !p.Local.IsValid() || p.Local == t.TunnelLocal
		remoteOK := !s.Remote.IsValid() || s.Remote == t.TunnelRemote
		if localOK && remoteOK {
			child.Mode = "transport"
		}
	} else {
		child.LocalTS = prefixes(p.LocalNet)
		child.RemoteTS = prefixes(p.RemoteNet)
		if len(child.LocalTS) == 0 {
			child.LocalTS = []string{"dynamic"}
		}
		if len(child.RemoteTS) == 0 {
			child.RemoteTS = []string{"dynamic"}
		}
	}
	c.Children = map[string]viciChild{}
	if c.Version == "1" && (len(child.LocalTS) > 1 || len(child.RemoteTS) > 1) {
		// IKEv1 negotiates one selector pair per CHILD_SA.
		n := 0
		for _, l := range child.LocalTS {
			for _, r := range child.RemoteTS {
				n++
				ch := child
				ch.LocalTS, ch.RemoteTS = []string{l}, []string{r}
				c.Children[fmt.Sprintf("%s-%d", s.Name, n)] = ch
			}
		}
	} else {
		c.Children[s.Name] = child
	}
	return s, nil
}

// localAddr is the address IKE will use, when the configuration says:
// `local`, else the GRE tunnel's local end, else a /32 local-net.
func localAddr(cfg *config.Config, p *config.Peer) netip.Addr {
	if p.Local.IsValid() {
		return p.Local
	}
	if t := greTunnel(cfg, p); t != nil {
		return t.TunnelLocal
	}
	return netip.Addr{}
}

// initiates tells whether this end starts the connection at once: the
// lower address of the two does; when either is unknown, both do.
func initiates(local, remote netip.Addr) bool {
	if !local.IsValid() || !remote.IsValid() {
		return true
	}
	return local.Less(remote)
}

func prefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Masked().String())
	}
	return out
}
