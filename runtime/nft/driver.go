package nft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"mboxsh/config"
	"mboxsh/runtime"
)

// Driver programs mboxsh's firewall and NAT into `table inet mboxsh` of one
// network namespace. It implements runtime.Driver.
type Driver struct {
	mu     sync.Mutex
	ns     *os.File
	c      *conn
	comp   *compiler
	cache  *kState // the table as last read or written; valid while the generation matches
	closed bool
	// recoveries counts batches whose answer was lost and whose outcome
	// was learnt by reading the kernel back (tests expect none).
	recoveries int
	// restarts counts batches the kernel refused because the ruleset
	// changed after they were planned.
	restarts int
}

var _ runtime.Driver = (*Driver)(nil)

// New returns a driver for the named network namespace (/var/run/netns/NAME),
// or for the calling thread's namespace when nsName is "".
func New(nsName string) (*Driver, error) {
	path := "/proc/thread-self/ns/net"
	if nsName != "" {
		if strings.ContainsRune(nsName, '/') || nsName == "." || nsName == ".." {
			return nil, fmt.Errorf("nft: invalid namespace name %q", nsName)
		}
		path = "/var/run/netns/" + nsName
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nft: opening network namespace: %w", err)
	}
	d := &Driver{ns: f, comp: newCompiler()}
	if _, err := d.conn(); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// Name implements runtime.Driver.
func (d *Driver) Name() string { return "nft" }

// Close implements runtime.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var err error
	if d.c != nil {
		err = d.c.close()
		d.c = nil
	}
	return errors.Join(err, d.ns.Close())
}

func (d *Driver) conn() (*conn, error) {
	if d.closed {
		return nil, errors.New("nft: driver closed")
	}
	if d.c == nil {
		c, err := dial(int(d.ns.Fd()))
		if err != nil {
			return nil, fmt.Errorf("nft: %w", err)
		}
		d.c = c
	}
	return d.c, nil
}

// reset drops the socket after a transport error (unread answers may be
// left in it) and forgets the cached state.
func (d *Driver) reset() {
	if d.c != nil {
		d.c.close()
		d.c = nil
	}
	d.cache = nil
}

// transportErr tells whether err leaves the socket in an unknown state.
func transportErr(err error) bool {
	var ke *kernelError
	var be *batchError
	return err != nil && !errors.As(err, &ke) && !errors.As(err, &be) && !errors.Is(err, errRestart)
}

// current returns the kernel state of the table. One GETGEN round trip
// tells whether anything changed since the driver last read or wrote it;
// only then is the table read (dumped) again.
func (d *Driver) current(ctx context.Context) (*kState, error) {
	c, err := d.conn()
	if err != nil {
		return nil, err
	}
	g, err := c.getGen(ctx)
	if err == nil && d.cache != nil && d.cache.gen == g {
		return d.cache, nil
	}
	var s *kState
	if err == nil {
		s, err = c.readState(ctx)
	}
	if err != nil {
		if transportErr(err) {
			d.reset()
		}
		return nil, fmt.Errorf("nft: %w", err)
	}
	d.cache = s
	return s, nil
}

// Plan implements runtime.Driver. It compares the table the configuration
// `to` wants with what the kernel holds (not with `from`), so a commit also
// repairs drift. All changes go in one step, one netlink batch.
func (d *Driver) Plan(ctx context.Context, from, to *config.Config) ([]runtime.Step, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, err := d.comp.compile(to)
	if err != nil {
		return nil, err
	}
	cur, err := d.current(ctx)
	if err != nil {
		return nil, err
	}
	p, err := reconcile(cur, w)
	if err != nil {
		return nil, err
	}
	if p.empty() {
		return nil, nil
	}
	var snap *kState
	planned := &plannedBatch{cur: cur, p: p}
	stmt := "firewall"
	if len(p.changed) == 1 {
		stmt = p.changed[0]
	}
	return []runtime.Step{{
		Driver: d.Name(),
		Stmt:   stmt,
		Desc:   p.describe(),
		Do: func(ctx context.Context) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			s, err := d.apply(ctx, w, planned, true)
			snap = s
			return err
		},
		Undo: func(ctx context.Context) error {
			if snap == nil {
				return nil
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			_, err := d.apply(ctx, snapshotWant(snap), nil, false)
			return err
		},
	}}, nil
}

type plannedBatch struct {
	cur *kState
	p   *plan
}

func (p *plan) describe() string {
	var parts []string
	if p.added > 0 {
		parts = append(parts, plural(p.added, "rule")+" added")
	}
	if p.removed > 0 {
		parts = append(parts, plural(p.removed, "rule")+" removed")
	}
	if p.moved > 0 {
		parts = append(parts, plural(p.moved, "rule")+" moved between chains")
	}
	if p.chainOp > 0 {
		parts = append(parts, plural(p.chainOp, "table/chain change"))
	}
	return fmt.Sprintf("program nftables table inet %s (%s)", TableName, strings.Join(parts, ", "))
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return strconv.Itoa(n) + " " + s + "s"
}

// apply moves the kernel to w in one batch. The batch is conditional on the
// generation it was planned against; if someone else changed the ruleset in
// between, the kernel refuses it and apply plans again. With snapshot, apply
// returns the state it replaced, complete enough to be put back.
func (d *Driver) apply(ctx context.Context, w *want, planned *plannedBatch, snapshot bool) (*kState, error) {
	for attempt := 0; ; attempt++ {
		c, err := d.conn()
		if err != nil {
			return nil, err
		}
		var cur *kState
		var p *plan
		if planned != nil && d.cache == planned.cur {
			// The plan was made against the cached state; the generation
			// check in the batch catches any change since.
			cur, p = planned.cur, planned.p
		} else {
			if cur, err = d.current(ctx); err != nil {
				return nil, err
			}
			if p, err = reconcile(cur, w); err != nil {
				return nil, err
			}
		}
		planned = nil
		if p.empty() {
			return nil, nil
		}
		if snapshot {
			if err := d.completeSnapshot(ctx, c, p); err != nil {
				if transportErr(err) {
					d.reset()
				}
				return nil, fmt.Errorf("nft: saving the rules to replace: %w", err)
			}
		}
		if err := carryCounters(ctx, c, p); err != nil {
			if transportErr(err) {
				d.reset()
			}
			return nil, fmt.Errorf("nft: reading the counters of the rules to move: %w", err)
		}
		gen, err := c.sendBatch(ctx, p.msgs, true, cur.gen)
		switch {
		case err == nil:
			p.after.gen = gen
			d.cache = p.after
			return cur, nil
		case errors.Is(err, errRestart) && attempt < 3:
			d.restarts++
			d.cache = nil
			continue
		case transportErr(err):
			// The batch went out but its answer was lost: read the kernel
			// to learn whether it was applied (batches are all or nothing).
			d.reset()
			fresh, rerr := d.current(ctx)
			if rerr == nil {
				if q, qerr := reconcile(fresh, w); qerr == nil && q.empty() {
					d.recoveries++
					return cur, nil
				}
			}
			return nil, fmt.Errorf("nft: %w", err)
		case errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("firewall: kernel refused: %w (CAP_NET_ADMIN needed)", err)
		default:
			return nil, err
		}
	}
}

// completeSnapshot makes sure every rule the batch deletes can be put back
// exactly. Rules built from the configuration are rebuilt from it, with the
// counters the kernel's echo of the deletion reports. Other rules (written
// by hand, or read back by a fresh driver) are put back as the kernel dumped
// them; their anonymous sets are read now, while they exist.
func (d *Driver) completeSnapshot(ctx context.Context, c *conn, p *plan) error {
	for _, dr := range p.deleted {
		r := dr.rule
		if r.ir != nil {
			continue
		}
		if r.raw == nil {
			raw, err := c.fetchRule(ctx, dr.chain, r.handle)
			if err != nil {
				return err
			}
			r.raw = raw
		}
		if err := c.fetchSets(ctx, r.raw); err != nil {
			return err
		}
	}
	return nil
}

// carryCounters gives the rules the batch moves (deletes in one place and
// creates unchanged in another) the counter values the kernel holds for
// them now, read chain by chain just before the batch is sent. Packets
// counted between this read and the batch are lost.
func carryCounters(ctx context.Context, c *conn, p *plan) error {
	if len(p.moves) == 0 {
		return nil
	}
	byChain := map[string]map[uint64][2]uint64{}
	for _, mv := range p.moves {
		cnt, ok := byChain[mv.chain]
		if !ok {
			var err error
			if cnt, err = c.chainCounters(ctx, mv.chain); err != nil && !errors.Is(err, syscall.ENOENT) {
				return err
			}
			// ENOENT: the chain is gone, so the table changed since
			// the plan and the kernel will refuse the batch.
			byChain[mv.chain] = cnt
		}
		v, ok := cnt[mv.handle]
		if !ok || v == [2]uint64{} {
			continue
		}
		attrs, err := mv.rebuild(v[0], v[1])
		if err != nil {
			return err
		}
		p.msgs[p.insOffset+mv.ins].attrs = attrs
	}
	return nil
}

// Drift implements runtime.Driver: one line per difference between the
// table cfg wants and the kernel's.
func (d *Driver) Drift(ctx context.Context, cfg *config.Config) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, err := d.comp.compile(cfg)
	if err != nil {
		return nil, err
	}
	cur, err := d.current(ctx)
	if err != nil {
		return nil, err
	}
	p, err := reconcile(cur, w)
	if err != nil {
		return nil, err
	}
	return p.lines, nil
}

// Ruleset renders the table cfg wants as an nft script (`nft -f` loads it):
// for `show firewall ruleset`, support, and equivalence tests.
func (d *Driver) Ruleset(cfg *config.Config) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, err := d.comp.compile(cfg)
	if err != nil {
		return "", err
	}
	return w.text(), nil
}

// RuleCounter is the hit count of one configuration rule (or built-in
// default rule), summed over the kernel rules that realise it.
type RuleCounter struct {
	// Chain is the configuration keyword: firewall-input, firewall-access,
	// firewall-snat, firewall-dnat.
	Chain string `json:"chain"`
	// Number is the rule number; 0 for built-in default rules.
	Number int `json:"number"`
	// Name is the rule's comment in the kernel: "firewall-access 12",
	// "default-input ssh".
	Name string `json:"name"`
	// Rule is what the rule does, in configuration words (without number
	// and remark): "permit outbound eth0 tcp dport 80,443".
	Rule    string `json:"rule"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Counters reads the packet and byte counters of every rule, in chain
// order (input, access, dnat, snat) and rule order.
func (d *Driver) Counters(ctx context.Context) ([]RuleCounter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.conn()
	if err != nil {
		return nil, err
	}
	s, err := c.readState(ctx)
	if err != nil {
		if transportErr(err) {
			d.reset()
		}
		return nil, fmt.Errorf("nft: %w", err)
	}
	d.cache = s
	var out []RuleCounter
	index := map[string]int{}
	seen := map[string]bool{}
	var walk func(ch *kChain)
	walk = func(ch *kChain) {
		if ch == nil || seen[ch.name] {
			return
		}
		seen[ch.name] = true
		for _, r := range ch.rules {
			if t, ok := jumpTarget(r.key); ok && r.ours {
				walk(s.chain(t)) // the sub-chain's rules, in evaluation order
				continue
			}
			base := ch.name
			if b, _, ok := chunkOf(ch.name); ok {
				base = b
			}
			pk, by, _ := counterOf(r.raw.exprs)
			if i, ok := index[base+"\x00"+r.key]; ok {
				out[i].Packets += pk
				out[i].Bytes += by
				continue
			}
			rc := RuleCounter{Chain: chainKeyword[base], Name: r.key, Rule: r.text, Packets: pk, Bytes: by}
			if rc.Chain == "" {
				rc.Chain = ch.name
			}
			if kw, num, ok := strings.Cut(r.key, " "); ok && kw == rc.Chain {
				rc.Number, _ = strconv.Atoi(num)
			}
			index[base+"\x00"+r.key] = len(out)
			out = append(out, rc)
		}
	}
	for _, name := range []string{chainInput, chainForward, chainPrerouting, chainPostrouting} {
		walk(s.chain(name))
	}
	for _, ch := range s.chains {
		walk(ch)
	}
	return out, nil
}
