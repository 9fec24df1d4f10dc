package netlink

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unix.EOPNOTSUPP, "operation not supported by this kernel"},
		{fmt.Errorf("%w: Nexthop has invalid gateway", unix.EINVAL), "the kernel rejected a value as invalid (kernel: Nexthop has invalid gateway)"},
		{unix.EPERM, "permission denied (mboxsh must run as root)"},
		{syscall.Errno(200), syscall.Errno(200).Error()},
		{errors.New("not an errno"), "not an errno"},
	} {
		got := explain(tc.err)
		if got.Error() != tc.want {
			t.Errorf("explain(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("explain(%v) does not unwrap to the kernel error", tc.err)
		}
	}
	got := explainAs(fmt.Errorf("%w: Invalid MTU", unix.EINVAL), map[syscall.Errno]string{unix.EINVAL: "MTU 9 is out of range for this device"})
	if want := "MTU 9 is out of range for this device (kernel: Invalid MTU)"; got.Error() != want {
		t.Errorf("explainAs = %q, want %q", got, want)
	}
	if !errors.Is(got, unix.EINVAL) {
		t.Error("explainAs does not unwrap to EINVAL")
	}
	if explain(nil) != nil {
		t.Error("explain(nil) != nil")
	}
}
