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
// Every kernel rule carries a comment naming the statement it realises
// ("firewall-access 12", or "default-input ssh" for a built-in rule) and a
// counter. A configuration rule becomes one kernel rule (lists become
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
// # Applying changes
//
// Plan reads the kernel, not the `from` configuration, so a commit repairs
// drift. It compares, chain by chain, the wanted rules with the kernel's,
// by comment and fingerprint (a digest of the generated rule kept in a
// private userdata TLV next to the comment; nft ignores it). The common
// head and tail of both lists stay; in between, matching rules in the
// longest run already in order stay, everything else is deleted by handle
// and inserted before the next kept rule (or appended). All of it goes to
// the kernel as ONE netlink batch, i.e. one nftables transaction: all or
// nothing. The first commit builds the table whole.
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
