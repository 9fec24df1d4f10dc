package ipsec

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// RenderStatus writes `show ipsec status` in the vendor's table form:
//
//	================================================================================
//	 IPSec Status
//	 Uptime  : 8 minutes, since Apr 24 12:47:41 2026
//	 Local   : 10.65.31.56, Gateway: 10.0.0.1
//	 Peers   : 2 established, 0 connecting
//	================================================================================
//
//	Peer                                State          Local Net ...
func RenderStatus(w io.Writer, st *Status) error {
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	var b strings.Builder
	rule := strings.Repeat("=", 80)
	b.WriteString(rule + "\n")
	b.WriteString(" IPSec Status\n")
	if st.Running && !st.Since.IsZero() {
		fmt.Fprintf(&b, " Uptime  : %s, since %s\n", FormatDuration(now.Sub(st.Since)), st.Since.Format("Jan 02 15:04:05 2006"))
	} else if st.Running {
		b.WriteString(" Uptime  : -\n")
	} else {
		b.WriteString(" Uptime  : not running\n")
	}
	local := "-"
	for _, p := range st.Peers {
		if p.LocalAddr != "" {
			local = p.LocalAddr
			break
		}
	}
	gw := st.Gateway
	if gw == "" {
		gw = "-"
	}
	fmt.Fprintf(&b, " Local   : %s, Gateway: %s\n", local, gw)
	est, conn := 0, 0
	for _, p := range st.Peers {
		switch p.State {
		case "ESTABLISHED", "REKEYING", "REKEYED":
			est++
		case "CONNECTING":
			conn++
		}
	}
	fmt.Fprintf(&b, " Peers   : %d established, %d connecting\n", est, conn)
	b.WriteString(rule + "\n\n")

	const row = "%-36s%-15s%-18s%-16s%9s%9s  %-12s%-13s%s"
	lines := []string{fmt.Sprintf(row, "Peer", "State", "Local Net", "Remote Net", "Tx", "Rx", "Uptime", "IKE(Auth)", "ESP")}
	for _, p := range st.Peers {
		remote := p.RemoteAddr
		if remote == "" {
			remote = "any"
		}
		var tx, rx uint64
		esp := ""
		for _, c := range p.Children {
			tx += c.BytesOut
			rx += c.BytesIn
			if esp == "" && c.State == "INSTALLED" {
				esp = espName(c.Encryption, c.Integrity)
			}
		}
		if esp == "" {
			esp = espFromProposal(p.ESP)
		}
		up := "-"
		if !p.Established.IsZero() {
			up = FormatDuration(now.Sub(p.Established))
		}
		ike := "-"
		if p.Version != 0 {
			ike = fmt.Sprintf("IKEv%d(%s)", p.Version, p.Auth)
		}
		lines = append(lines, fmt.Sprintf(row,
			cell(p.Peer+" ("+remote+")", 36), cell(p.State, 15),
			cell(nets(p.LocalNets), 18), cell(nets(p.RemoteNets), 16),
			FormatBytes(tx), FormatBytes(rx), cell(up, 12), cell(ike, 13), esp))
	}
	width := 144
	for _, l := range lines {
		width = max(width, len(l))
	}
	b.WriteString(lines[0] + "\n")
	b.WriteString(strings.Repeat("-", width) + "\n")
	for _, l := range lines[1:] {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps at least one space between columns when a value is too wide.
func cell(s string, width int) string {
	if len(s) >= width {
		return s + " "
	}
	return s
}

// nets shows selectors without their protocol suffix ("/32[47]" -> "/32").
func nets(ts []string) string {
	if len(ts) == 0 {
		return "-"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		if j := strings.IndexByte(t, '['); j >= 0 {
			t = t[:j]
		}
		out[i] = t
	}
	return strings.Join(uniq(out), ",")
}

// espName turns charon's algorithm names into the vendor's ESP column:
// AES_CBC-256 + HMAC_SHA2_256_128 -> AES-256/SHA256.
func espName(enc, integ string) string {
	e := enc
	switch {
	case strings.HasPrefix(enc, "AES_CBC-"):
		e = "AES-" + strings.TrimPrefix(enc, "AES_CBC-")
	case strings.HasPrefix(enc, "3DES"):
		e = "3DES"
	}
	i := integ
	switch {
	case strings.HasPrefix(integ, "HMAC_SHA2_256"):
		i = "SHA256"
	case strings.HasPrefix(integ, "HMAC_SHA2_384"):
		i = "SHA384"
	case strings.HasPrefix(integ, "HMAC_SHA2_512"):
		i = "SHA512"
	case strings.HasPrefix(integ, "HMAC_SHA1"):
		i = "SHA1"
	case strings.HasPrefix(integ, "HMAC_MD5"):
		i = "MD5"
	}
	if i == "" {
		return e
	}
	return e + "/" + i
}

// espFromProposal names a configured proposal (aes256-sha256-modp1536)
// like espName does.
func espFromProposal(p string) string {
	if p == "" || p == "default" {
		return "-"
	}
	parts := strings.Split(p, "-")
	e := strings.ToUpper(parts[0])
	if strings.HasPrefix(e, "AES") {
		e = "AES-" + strings.TrimPrefix(e, "AES")
	}
	if len(parts) < 2 {
		return e
	}
	return e + "/" + strings.ToUpper(parts[1])
}

// FormatBytes prints a byte count the vendor's way: 0B, 816B, 2.0KB.
func FormatBytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, u := range []string{"KB", "MB", "GB", "TB"} {
		f /= 1024
		if f < 1024 || u == "TB" {
			return fmt.Sprintf("%.1f%s", f, u)
		}
	}
	return ""
}

// FormatDuration prints a duration the way strongSwan does (and so the
// vendor's table): "45 seconds", "8 minutes", "3 hours", "2 days".
func FormatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	unit := "second"
	switch {
	case s > 2*60*60*24:
		s, unit = s/(60*60*24), "day"
	case s > 2*60*60:
		s, unit = s/(60*60), "hour"
	case s > 2*60:
		s, unit = s/60, "minute"
	}
	if s != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", s, unit)
}

// RenderSA writes `show ipsec sa`: per peer the IKE_SA and every CHILD_SA
// with SPIs, algorithms, selectors, counters and timers, and why the SA is
// not up when it is not.
func RenderSA(w io.Writer, st *Status) error {
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	var b strings.Builder
	if !st.Running {
		b.WriteString("IPsec is not running.\n")
	}
	if len(st.Peers) == 0 && st.Running {
		b.WriteString("No IPsec peers.\n")
	}
	for i, p := range st.Peers {
		if i > 0 {
			b.WriteString("\n")
		}
		remote := p.RemoteAddr
		if remote == "" {
			remote = "any"
		}
		fmt.Fprintf(&b, "peer %s, connection %s\n", p.Peer, p.Conn)
		if p.State == "DOWN" {
			fmt.Fprintf(&b, "  IKE SA: DOWN, remote %s\n", remote)
		} else {
			role := "responder"
			if p.Initiator {
				role = "initiator"
			}
			fmt.Fprintf(&b, "  IKEv%d SA: %s", p.Version, p.State)
			if !p.Established.IsZero() {
				fmt.Fprintf(&b, " %s ago", FormatDuration(now.Sub(p.Established)))
			}
			fmt.Fprintf(&b, ", %s\n", role)
			fmt.Fprintf(&b, "    local  %s[%s] port %d\n", p.LocalAddr, p.LocalID, p.LocalPort)
			fmt.Fprintf(&b, "    remote %s[%s] port %d\n", p.RemoteAddr, p.RemoteID, p.RemotePort)
			if p.Proposal != "" {
				fmt.Fprintf(&b, "    proposal %s, auth %s\n", p.Proposal, p.Auth)
			}
			if p.SPIInit != "" {
				fmt.Fprintf(&b, "    SPIs %s_i %s_r", p.SPIInit, p.SPIResp)
				if !p.RekeyAt.IsZero() {
					fmt.Fprintf(&b, ", rekeying in %s", FormatDuration(p.RekeyAt.Sub(now)))
				}
				b.WriteString("\n")
			}
			if p.IKESAs > 1 {
				fmt.Fprintf(&b, "    (%d IKE SAs for this peer)\n", p.IKESAs)
			}
		}
		for _, c := range p.Children {
			fmt.Fprintf(&b, "  CHILD SA %s{%s}: %s, %s, %s", c.Name, c.UniqueID, c.State, c.Mode, c.Protocol)
			if c.Encap {
				b.WriteString(" in UDP")
			}
			b.WriteString("\n")
			fmt.Fprintf(&b, "    SPIs %s_i %s_o\n", c.SPIIn, c.SPIOut)
			algs := c.Encryption
			if c.Integrity != "" {
				algs += "/" + c.Integrity
			}
			if c.DHGroup != "" {
				algs += "/" + c.DHGroup
			}
			fmt.Fprintf(&b, "    algorithms %s\n", algs)
			fmt.Fprintf(&b, "    local  %s\n", strings.Join(c.LocalTS, " "))
			fmt.Fprintf(&b, "    remote %s\n", strings.Join(c.RemoteTS, " "))
			fmt.Fprintf(&b, "    in  %d bytes, %d packets%s\n", c.BytesIn, c.PacketsIn, ago(now, c.LastIn))
			fmt.Fprintf(&b, "    out %d bytes, %d packets%s\n", c.BytesOut, c.PacketsOut, ago(now, c.LastOut))
			if c.ReplayErrors > 0 || c.IntegrityFailed > 0 {
				fmt.Fprintf(&b, "    inbound errors: %d replay, %d integrity\n", c.ReplayErrors, c.IntegrityFailed)
			}
			var t []string
			if !c.Installed.IsZero() {
				t = append(t, "installed "+FormatDuration(now.Sub(c.Installed))+" ago")
			}
			if !c.RekeyAt.IsZero() {
				t = append(t, "rekeying in "+FormatDuration(c.RekeyAt.Sub(now)))
			}
			if !c.ExpiresAt.IsZero() {
				t = append(t, "expires in "+FormatDuration(c.ExpiresAt.Sub(now)))
			}
			if len(t) > 0 {
				fmt.Fprintf(&b, "    %s\n", strings.Join(t, ", "))
			}
		}
		if len(p.Children) == 0 && p.State != "DOWN" {
			b.WriteString("  no CHILD SA\n")
		}
		if p.Reason != nil {
			fmt.Fprintf(&b, "  not up: %s", p.Reason.Text)
			if !p.Reason.At.IsZero() {
				fmt.Fprintf(&b, " (%s ago)", FormatDuration(now.Sub(p.Reason.At)))
			}
			b.WriteString("\n")
			if p.Reason.Log != "" {
				fmt.Fprintf(&b, "    charon: %s\n", p.Reason.Log)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ", last " + FormatDuration(now.Sub(t)) + " ago"
}
