// Package nft is mboxsh's firewall and NAT driver: it programs the
// firewall-input, firewall-access, firewall-snat and firewall-dnat rules of
// a configuration into the nftables table `inet mboxsh` of one network
// namespace, and never touches any other table.
//
// # Table layout
//
//	chain input        filter hook input       priority filter  policy drop    firewall-input
//	chain forward      filter hook forward     priority filter  policy drop    firewall-access
//	chain prerouting   nat    hook prerouting  priority dstnat  policy accept  firewall-dnat
//	chain postrouting  nat    hook postrouting priority srcnat  policy accept  firewall-snat
//
// A chain with more than 256 configuration rules keeps them in regular
// chains (sub-chains) instead, jumped to from its base chain; see
// "Sub-chains" below.
//
// Every kernel rule carries a comment naming the statement it realises
// ("firewall-access 12", or "default-input ssh" for a built-in rule, or
// "chunk forward-5100" for a jump to a sub-chain) and a counter. A
// configuration rule becomes one kernel rule (lists become
// anonymous sets), except `all IF` in firewall-access, which becomes two
// (iifname IF, oifname IF). Matches: inbound IF = iifname, outbound IF =
// oifname, a trailing '+' is a prefix match ("tun+" → "tun*"), ip = meta
// nfproto ipv4, tcp|udp|icmp = meta l4proto. Actions: permit = accept,
// deny = drop, overload = masquerade, SNAT translate = snat ip to XSRC
// (A or A-B), DNAT translate = dnat ip to XDST[:XDPORT], redirect =
// redirect [to :XDPORT], exempt = accept (leaves the NAT chain untouched).
// NAT does not open the filter: a translated flow still needs a
// firewall-access rule (a redirected one a firewall-input rule), as on the
// vendor's boxes.
//
// # Built-in rules (decisions)
//
// Forward chain, unless `firewall-disable access`:
//
//	ct state established,related accept   default-access established
//	ct state invalid drop                  default-access invalid
//
// These make firewall-access the stateful filter the vendor describes.
// `firewall-disable access` removes them: the filter becomes stateless
// (return traffic needs its own rules), which is what asymmetric routing
// needs. The policy stays drop.
//
// Input chain, always first (they survive `firewall-disable input`):
//
//	iifname "lo" accept                     default-input loopback
//	ct state established,related accept     default-input established
//	ct state invalid drop                   default-input invalid
//
// then the configured firewall-input rules, then, unless `firewall-disable
// input`, the services an IPsec-over-GRE appliance needs:
//
//	meta l4proto icmp accept, meta l4proto ipv6-icmp accept
//	tcp dport 22 accept                                     (SSH)
//	ip saddr PEERS udp dport { 500, 4500 } accept           (IKE, NAT-T)
//	ip saddr PEERS meta l4proto esp accept
//	ip saddr GRE-REMOTES meta l4proto gre accept
//	iifname OSPF-IFS meta l4proto ospf accept
//
// PEERS are the peers' RemoteAddress; if any peer is responder-only
// (remote-ip any) IKE and ESP are accepted from anywhere. GRE-REMOTES are
// the `tunnel remote` addresses. OSPF-IFS are the interfaces with an
// address inside a `router ospf` network prefix (any interface if none
// can be found). With these the reference configuration needs no
// firewall-input rule. The service defaults come after the configured
// rules, so an operator's `firewall-input N deny inbound eth0 tcp dport 22`
// takes effect. The input policy is drop in every case:
// `firewall-disable input` means "only my rules", not "no firewall".
//
// Lock-out: because established/related traffic stays accepted, a commit
// made over SSH never cuts the session that made it (so the operator can
// still roll back), even with `firewall-disable input` and no SSH rule.
// New SSH sessions are refused then; Warnings reports that case so the
// shell can say so before the commit.
//
// # Sub-chains
//
// nf_tables keeps the rules of a chain as one array (the "blob") that
// packets walk; a transaction that adds or deletes a rule builds the blob
// of that chain again, whole. Replacing one rule of a flat base chain of
// 10,000 rules costs the kernel 7–9 ms of system time (6–16 ms measured
// with nft itself); the same change in a chain of 50–1,000 rules, the
// 10,000 rules split over regular chains, costs 1.5–3.5 ms, and the size
// hardly matters in that range (BenchmarkChunkSize; on a shared machine
// the noise is larger than the differences): what remains is the
// validation of the whole table that every commit of a rule with a verdict
// (all of them) triggers, about 1.5–2.5 ms per 10,000 rules, and 0.3–0.45
// ms per anonymous set the batch creates (the kernel walks the list of the
// table's sets, 2,000 in the benchmark, several times per set).
//
// So a base chain whose configuration rules (firewall-input,
// firewall-access, firewall-snat or firewall-dnat) are more than 256 keeps
// them in regular chains, each jumped to from the base chain in order,
// where the configured rules would be (after the built-in rules that come
// first, before the input service rules):
//
//	chain forward {
//		type filter hook forward priority filter; policy drop;
//		ct state established,related counter accept comment "default-access established"
//		ct state invalid counter drop comment "default-access invalid"
//		counter jump forward-0 comment "chunk forward-0"
//		counter jump forward-1730 comment "chunk forward-1730"
//		…
//	}
//	chain forward-0 { … rules 10 … 1720 … }
//	chain forward-1730 { … rules 1730 … }
//
// A packet that reaches the end of a sub-chain returns to the next rule of
// the base chain; accept and drop are final. So the rules are met in the
// same order as in one flat chain, and `nft list` shows them in order.
// Up to 256 rules stay flat in the base chain: a change there costs the
// kernel no more than one in a sub-chain, and the common small rule base
// looks the way nft users write it (no jumps to read, the golden files
// unchanged). Crossing 256 moves the rules once.
//
// Which sub-chain a rule is in depends on its number alone: a rule starts
// a sub-chain when a fixed hash of its number (splitmix64's finaliser)
// is 0 modulo 256, and the sub-chain is named after that rule
// ("forward-1730"); the rules before the first such rule are in "<base>-0".
// Sub-chains therefore hold 256 rules on average (geometric: a rule sits
// in a sub-chain of about 512 on average; in 10,000 rules numbered 1, 2,
// 3 … or 10, 20, 30 … the largest has 650–820 rules, 1,120 when numbered
// 1000, 1005, 1010 …). The layout is a function of the
// configuration only, so the rendering (Ruleset), Drift, a fresh driver
// and the kernel agree without any state. Changing, inserting or removing
// a rule touches its sub-chain only; inserting (removing) a rule that
// starts a sub-chain, one time in 256, splits (merges) one sub-chain: the
// rules after it in that sub-chain move, nothing else. A moved rule is
// deleted and created again unchanged: it is not a changed statement (a
// commit that splits a sub-chain is named after the inserted rule), and it
// keeps its counter values, read from the kernel just before the batch.
// The hash must never change: it would move every rule on upgrade. The
// first commit of this layout on a box with a flat 10,000-rule chain moves
// all rules once, counters included (about 3 s, once: the kernel finds
// each rule to delete by walking its chain).
//
// # Applying changes
//
// Plan reads the kernel, not the `from` configuration, so a commit repairs
// drift. It compares, chain by chain, the wanted rules with the kernel's,
// by comment and fingerprint (a digest of the generated rule kept in a
// private userdata TLV next to the comment; nft ignores it). A chain whose
// fingerprint — a digest of the comments and rule fingerprints of all its
// rules, in order — equals the wanted one is left alone without looking at
// its rules: the wanted fingerprints are memoised by the compiler with the
// sub-chains, the kernel's with the table the driver last read or wrote
// (see "Generation marker"), so an unchanged table of 10,000 rules costs a
// comparison per chain, and a commit that changes one rule compares one
// sub-chain rule by rule. In a chain that differs, the common head and
// tail of both lists stay; in between, matching rules in the longest run
// already in order stay, everything else is deleted by handle and inserted
// before the next kept rule (or appended). A rule missing in one chain and
// found in another that does not want it is a moved rule (above). All of
// it goes to the kernel as ONE netlink batch, i.e. one nftables
// transaction: all or nothing. The first commit builds the table whole.
//
// Compiling: the compiler keeps, per configuration chain, the rules it
// compiled last time with a private copy of each config.Rule; a rule equal
// to its copy is not compiled again, and a sub-chain made of the same
// compiled rules as last time is reused with its fingerprint. Comparing
// 10,000 rules with their copies is what remains of an unchanged commit
// (about 0.3 ms).
//
// Anonymous sets are named by the driver ("__set<generation>_<n>", unique
// since the batch is conditional on the generation) rather than by the
// kernel ("__set%d"), which would parse the name of every set of the table
// for each new one.
//
// Undo puts back exactly the table Do replaced: the same diff, from the
// state after Do to the state before it. Deleted rules come back with the
// counter values the kernel reported when it deleted them (the deletions
// are echoed); rules mboxsh did not write are put back as dumped, with
// their anonymous sets (read before Do).
//
// The transport is the driver's own (wire.go): google/nftables v0.3.0
// marshals the expressions, but its Flush drops the kernel's echoes (no
// handles for new rules), cannot tell which message failed, and cannot
// make a batch conditional. Here one sendmsg carries the batch with the
// socket buffers sized for it (no ENOBUFS at 10,000 rules), only the last
// message asks for an ACK, created rules are echoed (their handles are
// learnt without re-reading), failures name the statement
// ("firewall-snat 10: kernel rejected rule: …"), and BATCH_BEGIN carries
// the generation the plan was made against, so a concurrent change makes
// the kernel refuse the batch (ERESTART) and the driver plans again.
//
// Counters (show firewall) walk the base chains in hook order and follow
// the jumps, so they list the configuration rules in order, one entry per
// rule whatever its sub-chain, and never the jump rules.
//
// # Generation marker (trade-off)
//
// nftables counts every committed transaction in a per-namespace
// generation ID (NFT_MSG_GETGEN). The driver remembers the table it last
// read or wrote, stamped with that ID (learnt from the batch's own echo,
// so no race). One GETGEN round trip tells whether the table can still be
// what the driver remembers: a no-op commit or Drift then costs one round
// trip and a comparison in memory. Any change anywhere in the namespace's
// ruleset — `nft flush ruleset`, a hand edit of our table, but also
// another tool editing its own table — moves the ID, and the driver dumps
// the table again. A marker inside our table (a comment on the table, a
// marker rule) could not see a hand edit of one rule and would need a dump
// to be read anyway; the generation sees everything, at the price of
// needless re-reads when other tools are busy. A fresh driver (new
// process) always dumps once.
package nft
