package netlink

import (
	"errors"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// KernelError is a kernel error put in words an operator understands. It
// unwraps to the original error (a syscall.Errno for kernel refusals), so
// errors.Is(err, unix.EOPNOTSUPP) keeps working.
type KernelError struct {
	Msg string
	Err error
}

func (e *KernelError) Error() string { return e.Msg }
func (e *KernelError) Unwrap() error { return e.Err }

// errnoText says what a kernel error number means for the objects this
// driver handles.
var errnoText = map[syscall.Errno]string{
	unix.EOPNOTSUPP:      "operation not supported by this kernel",
	unix.EAFNOSUPPORT:    "address family not supported by this kernel",
	unix.EPROTONOSUPPORT: "protocol not supported by this kernel",
	unix.EPERM:           "permission denied (mboxsh must run as root)",
	unix.EACCES:          "permission denied (mboxsh must run as root)",
	unix.EEXIST:          "it already exists",
	unix.ENODEV:          "no such interface",
	unix.ENOENT:          "no such object",
	unix.ESRCH:           "no such route",
	unix.EADDRNOTAVAIL:   "the address is not configured there",
	unix.ENETUNREACH:     "the next hop is not reachable: no enabled interface has an address in its network",
	unix.ENETDOWN:        "the interface is down",
	unix.EHOSTUNREACH:    "the host is unreachable",
	unix.EINVAL:          "the kernel rejected a value as invalid",
	unix.ERANGE:          "a value is out of range",
	unix.EBUSY:           "the device is busy",
	unix.ENOBUFS:         "the kernel ran out of memory",
	unix.ENOMEM:          "the kernel ran out of memory",
	unix.ELOOP:           "that would create a loop",
	unix.EMLINK:          "too many links",
	unix.ENOSPC:          "no space left (kernel table full)",
	unix.ENAMETOOLONG:    "the name is too long (interface names have at most 15 characters)",
}

// explain turns a kernel error into a KernelError. The kernel's own extended
// message, when netlink returned one, is kept in parentheses.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var ke *KernelError
	if errors.As(err, &ke) {
		return err
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	msg, ok := errnoText[errno]
	if !ok {
		msg = errno.Error()
	}
	// vishvananda/netlink formats extended acks as "<errno>: <message>".
	if full := err.Error(); strings.HasPrefix(full, errno.Error()+": ") {
		if ext := strings.TrimPrefix(full, errno.Error()+": "); ext != "" {
			msg += " (kernel: " + ext + ")"
		}
	}
	return &KernelError{Msg: msg, Err: err}
}

// explainAs is explain with a specific text for some error numbers.
func explainAs(err error, special map[syscall.Errno]string) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if msg, ok := special[errno]; ok {
			e := explain(err).(*KernelError)
			if i := strings.Index(e.Msg, " (kernel: "); i >= 0 {
				msg += e.Msg[i:]
			}
			return &KernelError{Msg: msg, Err: err}
		}
	}
	return explain(err)
}
