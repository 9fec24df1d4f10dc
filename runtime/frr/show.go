package frr

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Neighbor is one OSPF neighbour (`show ip ospf neighbor`).
type Neighbor struct {
	RouterID netip.Addr `json:"routerId"`
	Address  netip.Addr `json:"address"` // the neighbour's interface address
	// Interface is the local interface, LocalAddress its address.
	Interface    string     `json:"interface"`
	LocalAddress netip.Addr `json:"localAddress,omitzero"`
	// State is the adjacency state: Down, Attempt, Init, 2-Way, ExStart,
	// Exchange, Loading, Full.
	State string `json:"state"`
	// Role is the neighbour's role on a broadcast network: DR, Backup,
	// DROther; "" on point-to-point links.
	Role           string `json:"role,omitempty"`
	Priority       int    `json:"priority"`
	UpMsec         int64  `json:"upMsec"`
	DeadMsec       int64  `json:"deadMsec"`
	RetransmitList int    `json:"retransmitList"`
	RequestList    int    `json:"requestList"`
	DBSummaryList  int    `json:"dbSummaryList"`
}

// Full reports whether the adjacency is complete.
func (n Neighbor) Full() bool { return n.State == "Full" }

// Interface is OSPF's view of one interface (`show ip ospf interface`).
type Interface struct {
	Name        string       `json:"name"`
	Up          bool         `json:"up"`
	OSPFEnabled bool         `json:"ospfEnabled"`
	Address     netip.Prefix `json:"address,omitzero"`
	Area        string       `json:"area,omitempty"`
	RouterID    netip.Addr   `json:"routerId,omitzero"`
	NetworkType string       `json:"networkType,omitempty"` // POINTOPOINT, BROADCAST, …
	State       string       `json:"state,omitempty"`       // Point-To-Point, DR, Backup, DROther, Waiting, …
	Cost        int          `json:"cost"`
	Priority    int          `json:"priority"`
	MTU         int          `json:"mtu"`
	HelloMsec   int          `json:"helloMsec"`
	DeadSec     int          `json:"deadSec"`
	WaitSec     int          `json:"waitSec"`
	Passive     bool         `json:"passive"`
	DR          netip.Addr   `json:"dr,omitzero"`
	BDR         netip.Addr   `json:"bdr,omitzero"`
	Neighbors   int          `json:"neighbors"`
	Adjacent    int          `json:"adjacent"`
}

// Route is one route of zebra's RIB (`show ip route ospf`).
type Route struct {
	Prefix    netip.Prefix `json:"prefix"`
	Protocol  string       `json:"protocol"`
	Selected  bool         `json:"selected"`
	Installed bool         `json:"installed"` // in the kernel's FIB
	Distance  int          `json:"distance"`
	Metric    int          `json:"metric"`
	Uptime    string       `json:"uptime,omitempty"`
	Nexthops  []Nexthop    `json:"nexthops"`
}

// Nexthop is one next hop of a Route.
type Nexthop struct {
	Via       netip.Addr `json:"via,omitzero"` // invalid when directly connected
	Interface string     `json:"interface,omitempty"`
	Active    bool       `json:"active"`
	Connected bool       `json:"connected"`
}

// showJSON runs a `show … json` command on a running ospfd instance.
func (d *Driver) showJSON(ctx context.Context, daemon, cmd string) ([]byte, error) {
	in := d.instance()
	if err := in.installed(); err != nil {
		return nil, err
	}
	if in.pid(daemon) == 0 {
		return nil, fmt.Errorf("%w: %s does not run", ErrNotRunning, daemon)
	}
	out, err := in.show(ctx, daemon, cmd)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// Neighbors lists the OSPF neighbours, sorted by router ID then interface.
func (d *Driver) Neighbors(ctx context.Context) ([]Neighbor, error) {
	b, err := d.showJSON(ctx, "ospfd", "show ip ospf neighbor json")
	if err != nil {
		return nil, err
	}
	return parseNeighbors(b)
}

// Interfaces lists OSPF's interfaces, or only the one named (name != "").
func (d *Driver) Interfaces(ctx context.Context, name string) ([]Interface, error) {
	cmd := "show ip ospf interface json"
	if name != "" {
		if !ifNamePattern.MatchString(name) {
			return nil, fmt.Errorf("bad interface name %q", name)
		}
		cmd = "show ip ospf interface " + name + " json"
	}
	b, err := d.showJSON(ctx, "ospfd", cmd)
	if err != nil {
		return nil, err
	}
	return parseInterfaces(b)
}

// Routes lists the OSPF routes of zebra's RIB, sorted by prefix.
func (d *Driver) Routes(ctx context.Context) ([]Route, error) {
	b, err := d.showJSON(ctx, "zebra", "show ip route ospf json")
	if err != nil {
		return nil, err
	}
	return parseRoutes(b)
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

type nbrJSON struct {
	Priority          *int   `json:"priority"`
	NbrPriority       *int   `json:"nbrPriority"`
	State             string `json:"state"`
	NbrState          string `json:"nbrState"`
	UpTimeInMsec      int64  `json:"upTimeInMsec"`
	DeadTimeMsecs     int64  `json:"deadTimeMsecs"`
	RouterDeadDueMsec int64  `json:"routerDeadIntervalTimerDueMsec"`
	Address           string `json:"address"`
	IfaceAddress      string `json:"ifaceAddress"`
	IfaceName         string `json:"ifaceName"`
	Retransmit        *int   `json:"retransmitCounter"`
	LSRetransmit      *int   `json:"linkStateRetransmissionListCounter"`
	Request           *int   `json:"requestCounter"`
	LSRequest         *int   `json:"linkStateRequestListCounter"`
	DBSummary         *int   `json:"dbSummaryCounter"`
	DBSummaryList     *int   `json:"databaseSummaryListCounter"`
}

func first(ps ...*int) int {
	for _, p := range ps {
		if p != nil {
			return *p
		}
	}
	return 0
}

// parseNeighbors reads `show ip ospf neighbor json` (FRR 7.5 to 10).
func parseNeighbors(b []byte) ([]Neighbor, error) {
	var doc struct {
		Neighbors map[string]json.RawMessage `json:"neighbors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing FRR's neighbour list: %w", err)
	}
	out := []Neighbor{}
	for rid, raw := range doc.Neighbors {
		// One object per neighbour, or a list when a router is a
		// neighbour on several interfaces (FRR ≥ 7.5 always lists).
		var list []nbrJSON
		if err := json.Unmarshal(raw, &list); err != nil {
			var one nbrJSON
			if err2 := json.Unmarshal(raw, &one); err2 != nil {
				return nil, fmt.Errorf("parsing FRR's neighbour %s: %w", rid, err)
			}
			list = []nbrJSON{one}
		}
		for _, j := range list {
			n := Neighbor{
				RouterID:       parseAddr(rid),
				Priority:       first(j.NbrPriority, j.Priority),
				UpMsec:         j.UpTimeInMsec,
				DeadMsec:       j.DeadTimeMsecs,
				RetransmitList: first(j.LSRetransmit, j.Retransmit),
				RequestList:    first(j.LSRequest, j.Request),
				DBSummaryList:  first(j.DBSummaryList, j.DBSummary),
			}
			if n.DeadMsec == 0 {
				n.DeadMsec = j.RouterDeadDueMsec
			}
			state := j.NbrState
			if state == "" {
				state = j.State
			}
			n.State, n.Role, _ = strings.Cut(state, "/")
			if n.Role == "-" {
				n.Role = ""
			}
			addr := j.IfaceAddress
			if addr == "" {
				addr = j.Address
			}
			n.Address = parseAddr(addr)
			ifn, local, _ := strings.Cut(j.IfaceName, ":")
			n.Interface, n.LocalAddress = ifn, parseAddr(local)
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, k int) bool {
		if c := out[i].RouterID.Compare(out[k].RouterID); c != 0 {
			return c < 0
		}
		return out[i].Interface < out[k].Interface
	})
	return out, nil
}

type ifaceJSON struct {
	IfUp          bool   `json:"ifUp"`
	OSPFEnabled   bool   `json:"ospfEnabled"`
	IPAddress     string `json:"ipAddress"`
	PrefixLen     int    `json:"ipAddressPrefixlen"`
	Area          string `json:"area"`
	RouterID      string `json:"routerId"`
	NetworkType   string `json:"networkType"`
	State         string `json:"state"`
	Cost          int    `json:"cost"`
	Priority      int    `json:"priority"`
	MTU           int    `json:"mtuBytes"`
	TimerMsecs    int    `json:"timerMsecs"`
	TimerDeadSecs int    `json:"timerDeadSecs"`
	TimerWaitSecs int    `json:"timerWaitSecs"`
	Passive       bool   `json:"timerPassiveIface"`
	DRAddress     string `json:"drAddress"`
	BDRAddress    string `json:"bdrAddress"`
	NbrCount      int    `json:"nbrCount"`
	NbrAdjacent   int    `json:"nbrAdjacentCount"`
}

// parseInterfaces reads `show ip ospf interface [IF] json`.
func parseInterfaces(b []byte) ([]Interface, error) {
	var doc struct {
		Interfaces map[string]ifaceJSON `json:"interfaces"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing FRR's interface list: %w", err)
	}
	if doc.Interfaces == nil {
		// Older FRR prints a single interface at the top level.
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err == nil {
			doc.Interfaces = map[string]ifaceJSON{}
			for k, v := range top {
				var j ifaceJSON
				if json.Unmarshal(v, &j) == nil {
					doc.Interfaces[k] = j
				}
			}
		}
	}
	out := []Interface{}
	for name, j := range doc.Interfaces {
		i := Interface{
			Name: name, Up: j.IfUp, OSPFEnabled: j.OSPFEnabled, Area: j.Area,
			RouterID: parseAddr(j.RouterID), NetworkType: j.NetworkType, State: j.State,
			Cost: j.Cost, Priority: j.Priority, MTU: j.MTU, HelloMsec: j.TimerMsecs,
			DeadSec: j.TimerDeadSecs, WaitSec: j.TimerWaitSecs, Passive: j.Passive,
			DR: parseAddr(j.DRAddress), BDR: parseAddr(j.BDRAddress),
			Neighbors: j.NbrCount, Adjacent: j.NbrAdjacent,
		}
		if a := parseAddr(j.IPAddress); a.IsValid() && j.PrefixLen >= 0 && j.PrefixLen <= a.BitLen() {
			i.Address = netip.PrefixFrom(a, j.PrefixLen)
		}
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

type routeJSON struct {
	Prefix    string `json:"prefix"`
	Protocol  string `json:"protocol"`
	Selected  bool   `json:"selected"`
	Installed bool   `json:"installed"`
	Distance  int    `json:"distance"`
	Metric    int    `json:"metric"`
	Uptime    string `json:"uptime"`
	Nexthops  []struct {
		IP                string `json:"ip"`
		InterfaceName     string `json:"interfaceName"`
		Active            bool   `json:"active"`
		DirectlyConnected bool   `json:"directlyConnected"`
	} `json:"nexthops"`
}

// parseRoutes reads `show ip route [PROTO] json`.
func parseRoutes(b []byte) ([]Route, error) {
	var doc map[string][]routeJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing FRR's route list: %w", err)
	}
	out := []Route{}
	for key, list := range doc {
		for _, j := range list {
			ps := j.Prefix
			if ps == "" {
				ps = key
			}
			p, err := netip.ParsePrefix(ps)
			if err != nil {
				return nil, fmt.Errorf("parsing FRR's route %q: %w", ps, err)
			}
			r := Route{Prefix: p, Protocol: j.Protocol, Selected: j.Selected, Installed: j.Installed,
				Distance: j.Distance, Metric: j.Metric, Uptime: j.Uptime, Nexthops: []Nexthop{}}
			for _, nh := range j.Nexthops {
				r.Nexthops = append(r.Nexthops, Nexthop{Via: parseAddr(nh.IP), Interface: nh.InterfaceName,
					Active: nh.Active, Connected: nh.DirectlyConnected})
			}
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		pa, pb := out[a].Prefix, out[b].Prefix
		if c := pa.Addr().Compare(pb.Addr()); c != 0 {
			return c < 0
		}
		return pa.Bits() < pb.Bits()
	})
	return out, nil
}
