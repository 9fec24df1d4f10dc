// Package vmlab runs tests under Debian's own kernel in a throw-away QEMU VM,
// for everything the development machines' kernel lacks (GRE, ESP/XFRM,
// 802.1Q VLAN, dummy links, loadable modules).
//
// # The guest
//
// The VM boots Debian's generic kernel (linux-image-amd64, downloaded and
// unpacked into a cache, never installed; see PrepareKernel) with a tiny
// busybox initramfs. The guest's root is the host's whole root filesystem,
// read-only over 9p, under a tmpfs overlay: every host binary (ip, nft,
// tcpdump, charon, swanctl, FRR, go test binaries, mboxsh) is there at the
// same path, and the guest may write anywhere (writes are lost at the end,
// except in Options.WritableDirs). /run, /dev, /proc, /sys, /dev/pts and
// /dev/shm are fresh; /run/netns exists, so `ip netns add` and
// `ip netns exec` (with its /etc/netns/NAME convention) work; /tmp is the
// host's /tmp, overlaid. Modules load on demand from the kernel's own tree,
// bound onto /lib/modules/$(uname -r). The guest has no network card: tests
// build their topology from network namespaces and veth pairs. The command
// runs as root, its stdout and stderr are the virtio consoles /dev/hvc0 and
// /dev/hvc1 (ttys in raw mode, streamed to the host's writers); kernel
// messages go to a console.log that errors quote. Under TCG a boot takes
// 3–4 s to the first line of output, a process start 15–100 ms. Processes
// see MBOXSH_IN_VM=1 (InVM).
//
// QEMU uses KVM where it really works and software emulation (TCG) otherwise
// (DetectAccel; /dev/kvm served by kvm_pvm cannot boot a stock kernel).
//
// # Running a package's tests in the VM
//
// A package whose tests need the VM adds one TestMain:
//
//	func TestMain(m *testing.M) { vmlab.RunTestsInVM(m) }
//
// Then `go test ./pkg` on the host boots one VM, re-executes the same test
// binary in it with the same flags (-test.run, -test.v, -test.count,
// coverage, ...), working directory and environment, streams its output and
// exits with its exit code; inside the VM RunTestsInVM just calls m.Run. So
// all tests of the package share one boot: put many tests behind it, and run
// several such packages with `go test -p 1` (two VMs on two cores gain
// nothing). Tests written for the VM can use the kernel freely: create
// namespaces (prefix their names with the package's name), load modules,
// start charon or FRR per namespace, and clean up as usual.
//
// If the VM cannot be had (no QEMU, no kernel, no network for the first
// download), the package FAILS with the reason, unless MBOXSH_ALLOW_SKIP=1,
// which makes it exit 0 after printing a SKIP line. Set
// MBOXSH_VMLAB_VERBOSE=1 (or -v) to see the boot and timings.
//
// Packages that do not want the whole package in the VM can instead run
// `go test -exec vmexec ./pkg` (mboxsh/test/vmlab/cmd/vmexec; each test
// binary runs in its own VM) and call Require(t) in the tests that need the
// kernel features, so that they fail clearly on the host.
//
// # Environment
//
//	MBOXSH_VMLAB_CACHE       kernel cache (default see CacheDir)
//	MBOXSH_VMLAB_KERNEL_ABI  boot this ABI instead of linux-image-amd64's
//	MBOXSH_VMLAB_ACCEL       tcg or kvm, overriding DetectAccel
//	MBOXSH_VMLAB_KEEP=1      keep the per-run directory (console.log)
//	MBOXSH_VMLAB_VERBOSE=1   harness messages on stderr
//	MBOXSH_ALLOW_SKIP=1      skip instead of failing when the VM is missing
//	MBOXSH_IN_VM=1           set inside the guest
//
// .ci/lab-setup installs the Debian packages and prepares the kernel.
package vmlab
