// Package netlink is the mboxsh runtime driver for links, addresses, static
// routes and the router sysctls of one network namespace. It talks to the
// kernel through rtnetlink (github.com/vishvananda/netlink) with one
// long-lived handle bound to the namespace; the sysctls are written by one
// OS thread that lives in the namespace.
//
// # What it manages
//
//   - ethN: an existing NIC, never created. A configured NIC that is absent
//     is skipped and reported by Drift and Interfaces, not an error.
//   - lo: its addresses (127.0.0.0/8 and ::1 are the kernel's and never
//     touched). `enable` brings it up; mboxsh never shuts the loopback down.
//   - tunN/greN: an IPv4 GRE tunnel (local required, ttl 64, path MTU
//     discovery on, loose rp_filter). Changed endpoints are changed in place
//     (RTM_NEWLINK without NLM_F_CREATE): the link keeps its index,
//     addresses and routes and no other link sees an event. Only a switch
//     between a remote and "remote any" recreates it (the kernel refuses
//     that in place). The kernel's fallback device gre0 cannot be used.
//   - vlan P V: 802.1Q VLAN V on ethP named vlanV; a changed parent
//     recreates it. A VLAN whose parent is not enabled stays down (the
//     kernel's rule) and is reported.
//   - bridge brN, and `bridge-group N` on other interfaces (master brN).
//   - Per interface: admin state (`enable` = up, absent = down), MTU (0 =
//     not managed; when the statement is removed, the kind's default comes
//     back: 1500, 65536 for lo, the parent's for a VLAN, the local device's
//     minus 24 for GRE), ifalias = description, and the exact set of
//     permanent addresses: extra ones are removed, except IPv6 link-local
//     and kernel-managed (non-permanent) ones. Interfaces mboxsh does not
//     configure are never touched.
//   - The default gateway and static routes, in the main table, with
//     [RouteProtocol] as rtm_protocol and the distance (default 1) as the
//     metric. Only routes with that protocol are ever removed. Routes are
//     appended, never replacing a route of someone else to the same
//     destination. A route whose next hop is on no connected network of an
//     enabled interface (or whose device is absent or down) is not
//     installed and is reported by Drift; the next commit installs it.
//   - net.ipv4.ip_forward=1 whenever something is configured; it is not
//     turned off again when the configuration is emptied.
//
// When a whole interface statement is removed, tunnels, VLANs and bridges
// are deleted; on a NIC mboxsh removes the addresses it had configured,
// clears the description, restores the default MTU and shuts it down if it
// was enabled.
//
// # Plans and steps
//
// Plan compares the desired configuration with the kernel itself, not only
// with the previous configuration: a commit re-asserts the configuration
// after drift, and an unchanged system gives no steps. Steps are ordered
// removals first in reverse order of use (routes, addresses, attributes,
// links), then creations in order of use (links, attributes, addresses,
// routes), then sysctls.
//
// Plan and Drift read the links and sysctls every time. The addresses and
// routes (the bulk: a thousand routes take milliseconds to dump) they read
// once and keep while a rtnetlink subscription, opened before the read,
// stays silent: an unchanged system plans without dumping them, and any
// change (by hand, by a daemon, or by mboxsh's own steps) makes the next
// plan read them again (see stateCache).
//
// Every step reads the kernel when it runs; Undo puts back exactly what Do
// found, including side effects of the kernel (routes flushed with an
// address or a down link, secondaries removed with their primary, VLANs
// taken down with their parent, a deleted link with its addresses, ports,
// routes and rp_filter). What a step reads to undo itself is only its own
// link's: its addresses, and the routes through it, which the kernel
// filters by output device (strict dump checking), not the whole table. A
// step on a link that this same commit created reads nothing to undo: the
// undo of the creation, which comes later in the rollback, deletes the link
// with whatever was set on it.
package netlink
