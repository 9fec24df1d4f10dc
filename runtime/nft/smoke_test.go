package nft

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := referenceConfig()
	txt, _ := d.Ruleset(cfg)
	t.Logf("rendered:\n%s", txt)
	commit(t, d, &configEmpty, cfg)
	t.Logf("listed:\n%s", nftList(t, ns))
	noDrift(t, d, cfg)
}
