package netlink

// Hooks into the state cache for the tests of package netlink_test.

// StateReads is the number of times d read every address and route of its
// namespace (the dumps the state cache saves).
func StateReads(d *Driver) uint64 { return d.cache.reads.Load() }

// CacheState tells whether d holds a cached state, and whether its
// subscription has notifications queued (stale) or lost them (overrun).
func CacheState(d *Driver) (cached, stale, overrun bool) {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	stale, overrun = c.pending()
	return c.addrs != nil, stale, overrun
}

// SetEventBuffer sets the SO_RCVBUF of d's next subscription and drops the
// cached state, so that the next Plan subscribes again.
func SetEventBuffer(d *Driver, n int) {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rcvbuf = n
	c.drop()
}

// AfterStateRead sets a function that runs after each full read of the
// state, before the cache keeps it.
func AfterStateRead(d *Driver, f func()) {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.afterRead = f
}

// EventSocket is the subscription's descriptor, -1 when there is none.
func EventSocket(d *Driver) int {
	c := d.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fd
}
