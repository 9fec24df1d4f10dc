package nft

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestDbg(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	commit(t, d, &configEmpty, referenceConfig())
	ae := newEnc()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, TableName)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, "__set0")
	msgs, err := d.c.query(ctx(t), unix.NFT_MSG_GETSETELEM, netlink.Dump, unix.NFPROTO_INET, mustEncode(ae))
	t.Logf("%d %v", len(msgs), err)
	for _, m := range msgs {
		t.Logf("%+v %x", m.Header, m.Data)
	}
}
