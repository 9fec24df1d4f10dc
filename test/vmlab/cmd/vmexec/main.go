// Command vmexec runs a command inside a throw-away vmlab VM (Debian's
// kernel under QEMU, the host's root filesystem read-only with a tmpfs
// overlay) and exits with its exit code. It is made for
//
//	go test -exec vmexec ./runtime/netlink
//
// which runs each test binary as root in its own VM, with the current
// working directory and the whole environment passed through (the guest
// also gets MBOXSH_IN_VM=1). For manual use:
//
//	vmexec -- ip link add t0 type gre remote 192.0.2.1
//	vmexec -v -- bash -c 'modprobe ip_gre && lsmod'
//
// Flags:
//
//	-timeout D  bound the whole run (default: the command's -test.timeout plus 2m, else none)
//	-v          print the harness's messages (kernel preparation, accelerator, timings)
//	-keep       keep the per-run directory with the guest's console.log
//	-prepare    only download and prepare the kernel (as .ci/lab-setup does), then exit
//
// Exit status: the command's, or 125 when the VM could not run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"mboxsh/test/vmlab"
)

func main() {
	os.Exit(run())
}

func run() int {
	timeout := flag.Duration("timeout", 0, "bound the whole run (default: -test.timeout of the command plus 2m, else none)")
	verbose := flag.Bool("v", false, "print the harness's messages and timings on stderr")
	keep := flag.Bool("keep", false, "keep the per-run directory (console.log)")
	prepare := flag.Bool("prepare", false, "only prepare the kernel in the cache, then exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmexec [flags] [--] command [arg...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *prepare {
		k, err := vmlab.PrepareKernel(ctx, vmlab.CacheDir(), os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmexec: %v\n", err)
			return 125
		}
		accel, why := vmlab.DetectAccel()
		fmt.Printf("kernel     %s\nvmlinux    %s\ninitramfs  %s\nmodules    %s\naccel      %s (%s)\n",
			k.ABI, k.Vmlinux, k.Initramfs, k.ModulesDir, accel, why)
		return 0
	}
	if flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	o, err := vmlab.ExecOptions(flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmexec: %v\n", err)
		return 125
	}
	if *timeout > 0 {
		o.Timeout = *timeout
	}
	o.KeepRunDir = *keep
	if *verbose {
		o.Log = os.Stderr
	}
	code, err := vmlab.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmexec: %v\n", err)
		return 125
	}
	return code
}
