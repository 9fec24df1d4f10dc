package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The driver speaks the nf_tables netlink protocol itself for transport:
// google/nftables v0.3.0 marshals the expressions, but its Conn.Flush drops
// the kernel's echo replies (so inserted rules have no handle, #233), cannot
// tell which message of a batch failed, and cannot carry the generation ID
// that makes a batch conditional on the state it was planned against. The
// wire layer here builds the messages, sends a batch in one sendmsg and reads
// the replies raw.

// errRestart reports that the kernel refused a batch because the ruleset
// generation changed since it was read.
var errRestart = errors.New("nftables ruleset changed concurrently")

// errUnknownOutcome reports that a batch was sent but its result could not be
// read back (for example ENOBUFS): the caller must re-read the kernel.
type errUnknownOutcome struct{ err error }

func (e *errUnknownOutcome) Error() string {
	return fmt.Sprintf("reading the kernel's answer to the batch: %v", e.err)
}
func (e *errUnknownOutcome) Unwrap() error { return e.err }

func msgType(t int) netlink.HeaderType {
	return netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | t)
}

// nfgen is the nfgenmsg header that starts every nf_tables message.
func nfgen(family byte, resID uint16) []byte {
	return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
}

// conn is one NETLINK_NETFILTER socket in the driver's network namespace.
type conn struct {
	nl     *netlink.Conn
	raw    syscall.RawConn
	seq    uint32
	buf    []byte
	rcvbuf int
	sndbuf int
}

func dial(nsFD int) (*conn, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFD})
	if err != nil {
		return nil, fmt.Errorf("opening nftables netlink socket: %w", err)
	}
	// Extended ACKs carry the kernel's own error text; capped ACKs keep
	// error replies small (no copy of the failing request).
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	_ = nl.SetOption(netlink.CapAcknowledge, true)
	raw, err := nl.SyscallConn()
	if err != nil {
		nl.Close()
		return nil, err
	}
	c := &conn{nl: nl, raw: raw, buf: make([]byte, 256<<10)}
	return c, nil
}

func (c *conn) close() error { return c.nl.Close() }

func (c *conn) nextSeq() uint32 {
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	return c.seq
}

// grow raises the socket buffers to at least snd and rcv bytes. As root the
// FORCE variants pass net.core.[rw]mem_max; the kernel doubles the value.
func (c *conn) grow(snd, rcv int) error {
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		if snd > c.sndbuf {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, snd); e != nil {
				e = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, snd)
				if e != nil {
					serr = e
					return
				}
			}
			c.sndbuf = snd
		}
		if rcv > c.rcvbuf {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcv); e != nil {
				e = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcv)
				if e != nil {
					serr = e
					return
				}
			}
			c.rcvbuf = rcv
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func (c *conn) setDeadline(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(30 * time.Second)
	}
	_ = c.nl.SetDeadline(d)
}

// recv reads one datagram and splits it into messages.
func (c *conn) recv() ([]syscall.NetlinkMessage, error) {
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), c.buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
	})
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	if n > len(c.buf) {
		// Truncated: grow the buffer for next time; this datagram is lost.
		c.buf = make([]byte, n)
		return nil, fmt.Errorf("netlink datagram of %d bytes truncated", n)
	}
	return syscall.ParseNetlinkMessage(c.buf[:n])
}

// nlErr decodes an NLMSG_ERROR payload: errno (0 = ACK), the sequence of
// the request it answers and the extended-ACK text if any.
func nlErr(m syscall.NetlinkMessage) (errno syscall.Errno, seq uint32, text string) {
	if len(m.Data) < 4+unix.SizeofNlMsghdr {
		return syscall.EINVAL, 0, "short netlink error message"
	}
	code := int32(binary.NativeEndian.Uint32(m.Data[:4]))
	seq = binary.NativeEndian.Uint32(m.Data[4+8 : 4+12])
	if code < 0 {
		errno = syscall.Errno(-code)
	}
	if m.Header.Flags&unix.NLM_F_ACK_TLVS != 0 {
		off := 4 + unix.SizeofNlMsghdr
		if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
			off = 4 + int(binary.NativeEndian.Uint32(m.Data[4:8]))
		}
		if off < len(m.Data) {
			if ad, err := netlink.NewAttributeDecoder(m.Data[off:]); err == nil {
				for ad.Next() {
					if ad.Type() == unix.NLMSGERR_ATTR_MSG {
						text = ad.String()
					}
				}
			}
		}
	}
	return errno, seq, text
}

// kernelError is an error reply to one request.
type kernelError struct {
	Errno syscall.Errno
	Text  string // extended ACK message, may be empty
}

func (e *kernelError) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("%v (%s)", e.Errno, e.Text)
	}
	return e.Errno.Error()
}
func (e *kernelError) Unwrap() error { return e.Errno }

// query sends one request and collects the replies: for a dump until
// NLMSG_DONE, else the single reply.
func (c *conn) query(ctx context.Context, typ int, flags netlink.HeaderFlags, family byte, attrs []byte) ([]syscall.NetlinkMessage, error) {
	seq := c.nextSeq()
	m := netlink.Message{
		Header: netlink.Header{Type: msgType(typ), Flags: netlink.Request | flags, Sequence: seq},
		Data:   append(nfgen(family, 0), attrs...),
	}
	c.setDeadline(ctx)
	if _, err := c.nl.SendMessages([]netlink.Message{m}); err != nil {
		return nil, err
	}
	dump := flags&netlink.Dump != 0
	var out []syscall.NetlinkMessage
	for {
		msgs, err := c.recv()
		if err != nil {
			return nil, err
		}
		for _, r := range msgs {
			if r.Header.Seq != seq {
				continue // stale message from an earlier, abandoned request
			}
			switch r.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				errno, _, text := nlErr(r)
				if errno != 0 {
					return nil, &kernelError{Errno: errno, Text: text}
				}
				if !dump {
					return out, nil
				}
			default:
				// recv reuses its buffer: keep a copy.
				r.Data = append([]byte(nil), r.Data...)
				out = append(out, r)
				if !dump && r.Header.Flags&unix.NLM_F_MULTI == 0 {
					return out, nil
				}
			}
		}
	}
}

// getGen returns the ruleset generation ID of the namespace.
func (c *conn) getGen(ctx context.Context) (uint32, error) {
	msgs, err := c.query(ctx, unix.NFT_MSG_GETGEN, 0, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, fmt.Errorf("reading nftables generation: %w", err)
	}
	for _, m := range msgs {
		if g, ok := genFromMsg(m); ok {
			return g, nil
		}
	}
	return 0, errors.New("reading nftables generation: no answer")
}

func genFromMsg(m syscall.NetlinkMessage) (uint32, bool) {
	if m.Header.Type != uint16(msgType(unix.NFT_MSG_NEWGEN)) || len(m.Data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return 0, false
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32(), true
		}
	}
	return 0, false
}

// bmsg is one message of a batch.
type bmsg struct {
	typ   int
	flags netlink.HeaderFlags
	attrs []byte
	// label names the configuration statement the message realises, for
	// error messages ("firewall-access 12").
	label string
	what  string // "rule", "chain input", "table", …
	// echo, when set, receives the kernel's echo of the created object.
	echo func(attrs []byte)
}

// batchError is the kernel's refusal of one message of a batch.
type batchError struct {
	Label string
	What  string
	Err   *kernelError
}

func (e *batchError) Error() string {
	if e.Label == "" {
		return fmt.Sprintf("firewall: kernel rejected %s: %v", e.What, e.Err)
	}
	return fmt.Sprintf("%s: kernel rejected %s: %v", e.Label, e.What, e.Err)
}
func (e *batchError) Unwrap() error { return e.Err }

// sendBatch sends msgs as one nf_tables transaction. If checkGen is set the
// kernel refuses the batch (errRestart) when the ruleset generation is no
// longer gen. It returns the generation the transaction created.
func (c *conn) sendBatch(ctx context.Context, msgs []bmsg, checkGen bool, gen uint32) (uint32, error) {
	if len(msgs) == 0 {
		return 0, errors.New("empty batch")
	}
	out := make([]netlink.Message, 0, len(msgs)+2)
	bySeq := make(map[uint32]*bmsg, len(msgs))

	beginSeq := c.nextSeq()
	var beginAttrs []byte
	if checkGen {
		ae := netlink.NewAttributeEncoder()
		ae.ByteOrder = binary.BigEndian
		ae.Uint32(unix.NFNL_BATCH_GENID, gen)
		beginAttrs, _ = ae.Encode()
	}
	out = append(out, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request, Sequence: beginSeq},
		Data:   append(nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES), beginAttrs...),
	})
	size := 0
	var lastSeq uint32
	for i := range msgs {
		m := &msgs[i]
		seq := c.nextSeq()
		flags := netlink.Request | m.flags
		if m.echo != nil || i == 0 {
			// Echo on the first message also makes the kernel send the
			// new generation ID (nf_tables_gen_notify looks at the first
			// message after BATCH_BEGIN).
			flags |= netlink.Echo
		}
		if i == len(msgs)-1 {
			// Only the last message asks for an ACK: errors are reported
			// for every message anyway, and 10,000 ACKs would flood the
			// receive buffer. The last ACK marks the end of the answer.
			flags |= netlink.Acknowledge
			lastSeq = seq
		}
		bySeq[seq] = m
		out = append(out, netlink.Message{
			Header: netlink.Header{Type: msgType(m.typ), Flags: flags, Sequence: seq},
			Data:   append(nfgen(unix.NFPROTO_INET, 0), m.attrs...),
		})
		size += 16 + 4 + len(m.attrs)
	}
	out = append(out, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request, Sequence: c.nextSeq()},
		Data:   nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})

	// The whole batch goes in one sendmsg (one skb): the send buffer must
	// hold it. Echoes of created rules come back about as large as the
	// requests, so the receive buffer gets room for them too.
	if err := c.grow(size+size/4+(64<<10), 4*size+(1<<20)); err != nil {
		return 0, fmt.Errorf("sizing netlink socket buffers: %w", err)
	}
	c.setDeadline(ctx)
	if _, err := c.nl.SendMessages(out); err != nil {
		return 0, fmt.Errorf("sending nftables batch (%d bytes): %w", size, err)
	}

	var newGen uint32
	var errs []error
	for {
		rmsgs, err := c.recv()
		if err != nil {
			return 0, &errUnknownOutcome{err}
		}
		for _, r := range rmsgs {
			switch r.Header.Type {
			case unix.NLMSG_ERROR:
				errno, seq, text := nlErr(r)
				if seq == beginSeq && errno != 0 {
					if errno == unix.ERESTART {
						return 0, errRestart
					}
					return 0, &batchError{What: "batch", Err: &kernelError{errno, text}}
				}
				if m := bySeq[seq]; m != nil && errno != 0 {
					errs = append(errs, &batchError{Label: m.label, What: m.what, Err: &kernelError{errno, text}})
				}
				if seq == lastSeq {
					if len(errs) > 0 {
						return 0, errors.Join(errs...)
					}
					if newGen == 0 {
						return 0, &errUnknownOutcome{errors.New("no generation ID in the kernel's answer")}
					}
					return newGen, nil
				}
			case uint16(msgType(unix.NFT_MSG_NEWGEN)):
				// Only this batch's echo reaches the socket: it joins no
				// multicast group.
				if g, ok := genFromMsg(r); ok {
					newGen = g
				}
			default:
				if m := bySeq[r.Header.Seq]; m != nil && m.echo != nil && len(r.Data) >= 4 {
					m.echo(r.Data[4:])
				}
			}
		}
	}
}

// attrs is a small helper around netlink.AttributeEncoder with big-endian
// integers, as nf_tables wants them.
func newEnc() *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	return ae
}

func mustEncode(ae *netlink.AttributeEncoder) []byte {
	b, err := ae.Encode()
	if err != nil {
		// Only fails on attributes larger than 64 KiB, which the driver
		// never builds (validated before).
		panic(fmt.Sprintf("nft: encoding netlink attributes: %v", err))
	}
	return b
}
