package ipsec

import (
	"net/netip"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"
)

func byRemoteFixed(m map[string]string) func(netip.Addr) (string, bool) {
	return func(a netip.Addr) (string, bool) {
		p, ok := m[a.String()]
		return p, ok
	}
}

func TestClassify(t *testing.T) {
	for msg, code := range map[string]string{
		"giving up after 5 retransmits":                                                    ReasonNoResponse,
		"retransmit 2 of request with message ID 0":                                        ReasonNoResponse,
		"received NO_PROPOSAL_CHOSEN notify error":                                         ReasonProposalMismatch,
		"received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built":                            ReasonProposalMismatch,
		"no acceptable proposal found":                                                     ReasonProposalMismatch,
		"received AUTHENTICATION_FAILED notify error":                                      ReasonAuthFailed,
		"tried 1 shared key for '203.0.113.2' - '198.51.100.2', but MAC mismatched":        ReasonAuthFailed,
		"no shared key found for '198.51.100.2' - '%any'":                                  ReasonAuthFailed,
		"error writing to socket: Network is unreachable":                                  ReasonUnreachable,
		"received TS_UNACCEPTABLE notify, no CHILD_SA built":                               ReasonTSMismatch,
		"unable to install inbound and outbound IPsec SA (SAD) in kernel":                  ReasonKernel,
		"received DELETE for IKE_SA mboxsh-x[3]":                                           ReasonDeletedByPeer,
		"no IKE config found for 203.0.113.2...198.51.100.2, sending NO_PROPOSAL_CHOSEN":   ReasonNoConfig,
		"looking for peer configs matching 198.51.100.2[198.51.100.2]...203.0.113.2[%any]": "",
	} {
		got, _, _ := classify(msg)
		if got != code {
			t.Errorf("classify(%q) = %q, want %q", msg, got, code)
		}
	}
}

func TestTrackerEvents(t *testing.T) {
	tr := newTracker(byRemoteFixed(map[string]string{"203.0.113.2": "203.0.113.2"}))
	at := time.Now()
	logEv := func(name, id, msg string) vici.Event {
		m := vici.NewMessage()
		_ = m.Set("group", "IKE")
		_ = m.Set("level", "1")
		if name != "" {
			_ = m.Set("ikesa-name", name)
		}
		if id != "" {
			_ = m.Set("ikesa-uniqueid", id)
		}
		_ = m.Set("msg", msg)
		at = at.Add(time.Second)
		return vici.Event{Name: "log", Message: m, Timestamp: at}
	}
	// A responder line without a connection name is attributed through
	// the address learned from an earlier line of the same IKE_SA.
	tr.handle(logEv("", "7", "received packet: from 203.0.113.2[500] to 198.51.100.2[500] (462 bytes)"))
	tr.handle(logEv("", "7", "no acceptable proposal found"))
	if r, ok := tr.reason("203.0.113.2"); !ok || r.Code != ReasonProposalMismatch {
		t.Fatalf("reason %+v %v", r, ok)
	}
	// A retransmission does not hide the precise reason.
	tr.handle(logEv("mboxsh-203.0.113.2", "8", "retransmit 1 of request with message ID 0"))
	if r, _ := tr.reason("203.0.113.2"); r.Code != ReasonProposalMismatch {
		t.Fatalf("retransmit replaced the reason: %+v", r)
	}
	tr.handle(logEv("mboxsh-203.0.113.2", "8", "received AUTHENTICATION_FAILED notify error"))
	if r, _ := tr.reason("203.0.113.2"); r.Code != ReasonAuthFailed || r.Log != "received AUTHENTICATION_FAILED notify error" {
		t.Fatalf("reason %+v", r)
	}
	// ike-updown up clears it; down without a reason says closed.
	up := vici.NewMessage()
	_ = up.Set("up", "yes")
	sa := vici.NewMessage()
	_ = sa.Set("uniqueid", "9")
	_ = up.Set("mboxsh-203.0.113.2", sa)
	tr.handle(vici.Event{Name: "ike-updown", Message: up, Timestamp: at})
	if r, ok := tr.reason("203.0.113.2"); ok {
		t.Fatalf("reason after up: %+v", r)
	}
	down := vici.NewMessage()
	_ = down.Set("mboxsh-203.0.113.2", sa)
	tr.handle(vici.Event{Name: "ike-updown", Message: down, Timestamp: at})
	if r, _ := tr.reason("203.0.113.2"); r.Code != ReasonClosed {
		t.Fatalf("reason after down: %+v", r)
	}
	// Other connections are not ours.
	tr.handle(logEv("office", "3", "received AUTHENTICATION_FAILED notify error"))
	if _, ok := tr.reason("office"); ok {
		t.Fatal("tracked a foreign connection")
	}
}

func TestTrackerLogFile(t *testing.T) {
	log := `2026-11-27 07:24:23 07[IKE] <mboxsh-198.51.100.2|1> initiating IKE_SA mboxsh-198.51.100.2[1] to 198.51.100.2
2026-11-27 07:24:27 09[IKE] <mboxsh-198.51.100.2|1> retransmit 1 of request with message ID 0
2026-11-27 07:24:31 14[NET] <2> received packet: from 203.0.113.9[500] to 203.0.113.2[500] (462 bytes)
2026-11-27 07:24:31 14[CFG] <2> no acceptable proposal found
2026-11-27 07:25:17 01[IKE] <mboxsh-198.51.100.2|2> IKE_SA mboxsh-198.51.100.2[2] established between 203.0.113.2[203.0.113.2]...198.51.100.2[198.51.100.2]
2026-11-27 07:25:17 01[IKE] <mboxsh-198.51.100.2|2> unable to install inbound and outbound IPsec SA (SAD) in kernel
garbage line
`
	tr := newTracker(byRemoteFixed(map[string]string{"198.51.100.2": "198.51.100.2", "203.0.113.9": "other"}))
	tr.feedLog(log)
	r, ok := tr.reason("198.51.100.2")
	if !ok || r.Code != ReasonKernel || r.At.Format("15:04:05") != "07:25:17" {
		t.Errorf("reason %+v", r)
	}
	if r, ok := tr.reason("other"); !ok || r.Code != ReasonProposalMismatch {
		t.Errorf("responder line: %+v %v", r, ok)
	}
	tr.feedLog("2026-11-27 07:25:18 01[IKE] <mboxsh-198.51.100.2|2> CHILD_SA mboxsh-198.51.100.2{1} established with SPIs c1_i c2_o and TS 203.0.113.2/32[gre] === 198.51.100.2/32[gre]\n")
	if r, ok := tr.reason("198.51.100.2"); ok {
		t.Errorf("reason after CHILD_SA up: %+v", r)
	}
}
