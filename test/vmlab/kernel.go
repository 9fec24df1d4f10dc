package vmlab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// initModules are the modules stage 1 needs before it can reach the host's
// root filesystem; their dependencies are added by modprobe --show-depends.
var initModules = []string{"virtio_pci", "virtio_mmio", "virtio_console", "9pnet_virtio", "9p", "overlay"}

// Kernel is a Debian kernel unpacked into the cache, ready to boot.
type Kernel struct {
	ABI        string // e.g. "6.1.0-56-amd64", also `uname -r` in the guest
	Dir        string // cache directory of this ABI
	Vmlinux    string // uncompressed ELF image, booted through its PVH entry
	Initramfs  string // stage 1: static busybox, the init modules, /init
	ModulesDir string // module tree bound onto /lib/modules/ABI in the guest
}

// CacheDir returns the directory that holds downloaded kernels:
// $MBOXSH_VMLAB_CACHE if set, else $XDG_CACHE_HOME/mboxsh-vmlab, else
// /var/cache/mboxsh-vmlab for root and ~/.cache/mboxsh-vmlab for others.
func CacheDir() string {
	if d := os.Getenv("MBOXSH_VMLAB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mboxsh-vmlab")
	}
	if os.Geteuid() == 0 {
		return "/var/cache/mboxsh-vmlab"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mboxsh-vmlab")
	}
	return "/var/cache/mboxsh-vmlab"
}

var abiRE = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~-]*-amd64$`)

// PrepareKernel makes sure the cache holds a bootable kernel and returns it.
// The first call downloads Debian's linux-image package of the ABI that
// linux-image-amd64 depends on (override with MBOXSH_VMLAB_KERNEL_ABI) and
// unpacks it (apt-get download, dpkg-deb -x, depmod); later calls only check
// files. Concurrent callers, in one process or several, are serialised by a
// lock file, and every artefact is written under a temporary name and renamed
// into place. Progress goes to log (may be nil).
func PrepareKernel(ctx context.Context, cacheDir string, log io.Writer) (*Kernel, error) {
	if log == nil {
		log = io.Discard
	}
	if cacheDir == "" {
		cacheDir = CacheDir()
	}
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("vmlab: cache directory: %w", err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("vmlab: cache directory: %w", err)
	}
	abi, err := resolveABI(ctx, cacheDir, log)
	if err != nil {
		return nil, err
	}
	init, err := initramfsInputs(abi)
	if err != nil {
		return nil, err
	}
	k := &Kernel{ABI: abi, Dir: filepath.Join(cacheDir, abi)}
	k.Vmlinux = filepath.Join(k.Dir, "vmlinux")
	k.Initramfs = filepath.Join(k.Dir, "initramfs-"+init.hash+".cpio.gz")
	if md, ok := findModulesDir(filepath.Join(k.Dir, "root"), abi); ok {
		k.ModulesDir = md
		if exists(k.Vmlinux) && exists(k.Initramfs) {
			return k, nil // fast path: everything is in place
		}
	}

	if err := os.MkdirAll(k.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("vmlab: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, abi+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	if k.ModulesDir, err = unpackKernel(ctx, k, log); err != nil {
		return nil, err
	}
	if !exists(k.Vmlinux) {
		fmt.Fprintf(log, "vmlab: extracting vmlinux of %s\n", abi)
		if err := extractVmlinux(ctx, filepath.Join(k.Dir, "root", "boot", "vmlinuz-"+abi), k.Vmlinux); err != nil {
			return nil, err
		}
	}
	if !exists(k.Initramfs) {
		fmt.Fprintf(log, "vmlab: building %s\n", filepath.Base(k.Initramfs))
		if err := buildInitramfs(ctx, k, init); err != nil {
			return nil, err
		}
		removeStaleInitramfs(k)
	}
	return k, nil
}

// resolveABI asks apt which kernel linux-image-amd64 currently points to.
// When apt cannot answer (no package lists), an ABI already in the cache is
// used, so that a prepared machine works offline.
func resolveABI(ctx context.Context, cacheDir string, log io.Writer) (string, error) {
	if abi := os.Getenv("MBOXSH_VMLAB_KERNEL_ABI"); abi != "" {
		if !abiRE.MatchString(abi) {
			return "", fmt.Errorf("vmlab: MBOXSH_VMLAB_KERNEL_ABI=%q is not an amd64 kernel ABI like 6.1.0-56-amd64", abi)
		}
		return abi, nil
	}
	// apt-cache costs a second or more of CPU; remember its answer until
	// apt's package lists or dpkg's status change.
	memo := filepath.Join(cacheDir, "abi")
	key := aptStateKey()
	if b, err := os.ReadFile(memo); err == nil {
		if k, abi, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok && k == key && abiRE.MatchString(abi) {
			return abi, nil
		}
	}
	out, aptErr := output(ctx, "", "apt-cache", "depends", "linux-image-amd64")
	if aptErr == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				abi := strings.TrimPrefix(f[1], "linux-image-")
				if abiRE.MatchString(abi) {
					_ = writeFileAtomic(memo, []byte(key+" "+abi+"\n"))
					return abi, nil
				}
			}
		}
		aptErr = fmt.Errorf("no linux-image-<abi> dependency in %q", out)
	}
	// Offline fallback: the newest ABI already unpacked.
	var cached []string
	ents, _ := os.ReadDir(cacheDir)
	for _, e := range ents {
		if e.IsDir() && abiRE.MatchString(e.Name()) && exists(filepath.Join(cacheDir, e.Name(), "vmlinux")) {
			cached = append(cached, e.Name())
		}
	}
	if len(cached) > 0 {
		sort.Strings(cached)
		abi := cached[len(cached)-1]
		fmt.Fprintf(log, "vmlab: apt-cache failed (%v); using cached kernel %s\n", aptErr, abi)
		return abi, nil
	}
	return "", fmt.Errorf("vmlab: cannot resolve the kernel ABI from linux-image-amd64 (run .ci/lab-setup, or apt-get update): %w", aptErr)
}

// aptStateKey changes whenever apt-get update or dpkg changes what
// apt-cache would answer.
func aptStateKey() string {
	var parts []string
	for _, p := range []string{"/var/lib/apt/lists", "/var/lib/dpkg/status", "/etc/apt/sources.list", "/etc/apt/sources.list.d"} {
		var t int64
		if st, err := os.Stat(p); err == nil {
			t = st.ModTime().UnixNano()
		}
		parts = append(parts, strconv.FormatInt(t, 36))
	}
	return strings.Join(parts, ":")
}

// writeFileAtomic writes data to a temporary file and renames it to path.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// unpackKernel downloads and unpacks linux-image-ABI unless the cache has it.
func unpackKernel(ctx context.Context, k *Kernel, log io.Writer) (string, error) {
	root := filepath.Join(k.Dir, "root")
	if md, ok := findModulesDir(root, k.ABI); ok {
		return md, nil
	}
	pkg := "linux-image-" + k.ABI
	fmt.Fprintf(log, "vmlab: downloading and unpacking %s into %s\n", pkg, k.Dir)
	tmp, err := os.MkdirTemp(k.Dir, "unpack-")
	if err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download drops privileges to _apt when it can reach the
	// directory; MkdirTemp makes it 0700.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	if _, err := output(ctx, tmp, "apt-get", "download", "-q", pkg); err != nil {
		return "", fmt.Errorf("vmlab: downloading the kernel: %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("vmlab: apt-get download %s left %d .deb files in %s", pkg, len(debs), tmp)
	}
	troot := filepath.Join(tmp, "root")
	if _, err := output(ctx, "", "dpkg-deb", "-x", debs[0], troot); err != nil {
		return "", fmt.Errorf("vmlab: unpacking the kernel: %w", err)
	}
	md, _ := findModulesDir(troot, k.ABI)
	if md == "" {
		return "", fmt.Errorf("vmlab: %s has no lib/modules/%s", pkg, k.ABI)
	}
	// depmod -b BASE reads BASE/lib/modules/ABI.
	base := filepath.Dir(filepath.Dir(filepath.Dir(md)))
	if _, err := output(ctx, "", "depmod", "-b", base, k.ABI); err != nil {
		return "", fmt.Errorf("vmlab: depmod: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	if err := os.Rename(troot, root); err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	md, _ = findModulesDir(root, k.ABI)
	return md, nil
}

// findModulesDir finds lib/modules/ABI (or usr/lib/modules/ABI, on merged-/usr
// releases) below root; ok reports that depmod has run there.
func findModulesDir(root, abi string) (dir string, ok bool) {
	for _, d := range []string{filepath.Join(root, "lib", "modules", abi), filepath.Join(root, "usr", "lib", "modules", abi)} {
		if exists(d) {
			return d, exists(filepath.Join(d, "modules.dep"))
		}
	}
	return "", false
}

// extractVmlinux writes the ELF kernel embedded, XZ-compressed, in a bzImage.
func extractVmlinux(ctx context.Context, vmlinuz, dst string) error {
	img, err := os.ReadFile(vmlinuz)
	if err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	off := bytes.Index(img, []byte("\xfd7zXZ\x00"))
	if off < 0 {
		return fmt.Errorf("vmlab: %s has no XZ payload", vmlinuz)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".vmlinux-")
	if err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	xz, err := lookTool("xz")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, xz, "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(img[off:])
	cmd.Stdout = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vmlab: xz -dc of %s: %w: %s", vmlinuz, err, strings.TrimSpace(stderr.String()))
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	f, err := elf.Open(tmp.Name())
	if err != nil {
		return fmt.Errorf("vmlab: the payload of %s is not an ELF kernel: %w", vmlinuz, err)
	}
	f.Close()
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	return nil
}

// initInputs is what the initramfs is made of; its hash names the image, so
// a change to the init script or to busybox yields a new image.
type initInputs struct {
	busybox []byte
	hash    string
}

func initramfsInputs(abi string) (*initInputs, error) {
	var bb []byte
	var tried []string
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if !static {
			tried = append(tried, p+": dynamically linked (install busybox-static)")
			continue
		}
		if bb, err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("vmlab: %w", err)
		}
		break
	}
	if bb == nil {
		return nil, fmt.Errorf("vmlab: no static busybox (apt-get install busybox-static): %s", strings.Join(tried, "; "))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", abi, stage1Script, strings.Join(initModules, ","))
	h.Write(bb)
	return &initInputs{busybox: bb, hash: hex.EncodeToString(h.Sum(nil))[:12]}, nil
}

// buildInitramfs writes stage 1: busybox as /init's interpreter, the modules
// needed to mount the host filesystem (in load order) and the init script.
func buildInitramfs(ctx context.Context, k *Kernel, in *initInputs) error {
	base := filepath.Dir(filepath.Dir(filepath.Dir(k.ModulesDir)))
	var mods []string
	seen := map[string]bool{}
	for _, m := range initModules {
		out, err := output(ctx, "", "modprobe", "-d", base, "-S", k.ABI, "--show-depends", m)
		if err != nil {
			return fmt.Errorf("vmlab: module %s: %w", m, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "insmod" { // "builtin X" needs nothing
				continue
			}
			if !seen[f[1]] {
				seen[f[1]] = true
				mods = append(mods, f[1])
			}
		}
	}

	tmp, err := os.CreateTemp(k.Dir, ".initramfs-")
	if err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriter(tmp)
	gz := gzip.NewWriter(bw)
	c := newCPIOWriter(gz)
	for _, d := range []string{"bin", "dev", "proc", "sys", "lower", "rw", "newroot", "modules"} {
		c.dir(d)
	}
	c.chardev("dev/console", 0o600, 5, 1)
	c.chardev("dev/null", 0o666, 1, 3)
	c.file("bin/busybox", 0o755, in.busybox)
	c.symlink("bin/sh", "busybox")
	var order []string
	for i, m := range mods {
		data, err := readModule(ctx, m)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%02d-%s", i, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(m), ".xz"), ".zst"), ".gz"))
		c.file("modules/"+name, 0o644, data)
		order = append(order, name)
	}
	c.file("modules/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	c.file("init", 0o755, []byte(stage1Script))
	if err := c.close(); err != nil {
		return fmt.Errorf("vmlab: writing initramfs: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("vmlab: writing initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vmlab: writing initramfs: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("vmlab: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vmlab: writing initramfs: %w", err)
	}
	return os.Rename(tmp.Name(), k.Initramfs)
}

// removeStaleInitramfs deletes the images of other harness versions built
// more than a day ago (another checkout may still use a recent one).
func removeStaleInitramfs(k *Kernel) {
	old, _ := filepath.Glob(filepath.Join(k.Dir, "initramfs-*.cpio.gz"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && p != k.Initramfs && time.Since(st.ModTime()) > 24*time.Hour {
			os.Remove(p)
		}
	}
}

// readModule returns a module's contents, decompressed if needed (busybox
// insmod takes plain .ko files).
func readModule(ctx context.Context, path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vmlab: %w", err)
		}
		return b, nil
	case strings.HasSuffix(path, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("vmlab: unknown module format %s", path)
	}
	b, err := output(ctx, "", tool, "-dc", path)
	if err != nil {
		return nil, fmt.Errorf("vmlab: decompressing %s: %w", path, err)
	}
	return b, nil
}

// lockFile takes an exclusive flock, waiting for ctx.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vmlab: lock: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("vmlab: lock %s: %w", path, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		f.Close() // the blocked flock returns EBADF or the lock dies with f
		return nil, fmt.Errorf("vmlab: waiting for %s: %w", path, ctx.Err())
	}
}

// lookTool finds an external program in PATH, then in the sbin directories
// a non-root PATH often lacks.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("vmlab: %s not found (run .ci/lab-setup)", name)
}

// output runs a program (never a shell) and returns its stdout; the error
// carries its stderr.
func output(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	path, err := lookTool(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
