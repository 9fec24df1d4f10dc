package vmlab

// stage1Script is /init in the initramfs, run by static busybox. It loads the
// virtio, 9p and overlay modules, builds the guest root (the host's / over 9p,
// read-only, under a tmpfs overlay), mounts fresh kernel filesystems and the
// per-run share, binds the kernel's module tree onto /lib/modules/ABI and
// switches to stage 2, a bash script the host wrote into the run share.
// Everything it prints goes to ttyS0, which the host keeps as console.log.
const stage1Script = `#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
fail() {
	echo "vmlab stage 1: FAILED: $*"
	echo b >/proc/sysrq-trigger
	exit 1
}
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
read -r up _ </proc/uptime
echo "vmlab stage 1: uptime $up"
while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done </modules/order
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" root /lower || fail "mount the host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount /rw"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount the overlay"
cd /newroot || fail "cd /newroot"
mount -t proc proc proc || fail "mount proc"
mount -t sysfs sysfs sys || fail "mount sys"
mount -t devtmpfs devtmpfs dev || fail "mount dev"
mkdir -p dev/pts dev/shm
ln -sf /proc/self/fd dev/fd
ln -sf /proc/self/fd/0 dev/stdin
ln -sf /proc/self/fd/1 dev/stdout
ln -sf /proc/self/fd/2 dev/stderr
ln -sf pts/ptmx dev/ptmx
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm || fail "mount /dev/shm"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs run || fail "mount /run"
mount -t cgroup2 cgroup2 sys/fs/cgroup || echo "vmlab stage 1: no cgroup2"
mkdir -p run/vmlab run/netns run/lock run/user tmp var/tmp || fail "mkdir in /run"
chmod 1777 run/lock
mount -t 9p -o "$opts" run run/vmlab || fail "mount the run share"
IFS= read -r mods <run/vmlab/modules || fail "read run/vmlab/modules"
abi=$(uname -r)
mkdir -p "lib/modules/$abi"
mount -o bind "/lower$mods" "lib/modules/$abi" || fail "bind $mods"
while IFS= read -r tag && IFS= read -r path; do
	mkdir -p "/newroot$path" && mount -t 9p -o "$opts" "$tag" "/newroot$path" || fail "mount the share $path"
done <run/vmlab/shares
ip link set lo up || fail "ip link set lo up"
# The command's stdout and stderr are the virtio consoles hvc0 and hvc1. They
# are opened here and inherited as fds 3 and 4 through switch_root by stage 2,
# so that their raw mode (no CR before LF, no echo) stays: hvc resets it on
# the last close. Being ttys, they can be reopened (/dev/stdout, tee
# /dev/stderr), unlike virtio-serial ports.
exec 3<>dev/hvc0 4<>dev/hvc1 || fail "open /dev/hvc0 and /dev/hvc1"
stty raw -echo <&3 && stty raw -echo <&4 || fail "stty raw"
hostname vmlab
read -r up _ </proc/uptime
echo "vmlab stage 1: uptime $up, switching to stage 2"
umount /proc /sys /dev
exec switch_root /newroot /bin/bash /run/vmlab/stage2
`

// stage2Script runs as PID 1 in the guest root. It reads the command, its
// environment and working directory from NUL-separated files in the run share
// (no value is ever parsed as shell code), runs the command with stdout on
// /dev/hvc0 and stderr on /dev/hvc1 (the host's writers), writes its exit
// code into the share and reboots, which makes QEMU exit (-no-reboot).
const stage2Script = `#!/bin/bash
R=/run/vmlab
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec </dev/null >/dev/console 2>&1
die() {
	echo "vmlab stage 2: FAILED: $*"
	printf '%s\n' "$*" >"$R/setup-error"
	echo b >/proc/sysrq-trigger
	sleep 60
}
mapfile -d '' -t argv <"$R/argv" || die "read argv"
mapfile -d '' -t envv <"$R/env" || die "read env"
IFS= read -r -d '' dir <"$R/dir"
cd -- "$dir" || die "cd $dir"
read -r up _ </proc/uptime
echo "vmlab stage 2: uptime $up, running the command"
if [[ -e $R/merge ]]; then
	env -i -- "${envv[@]}" "${argv[@]}" >&3 2>&3 3>&- 4>&-
else
	env -i -- "${envv[@]}" "${argv[@]}" >&3 2>&4 3>&- 4>&-
fi
rc=$?
read -r up _ </proc/uptime
echo "vmlab stage 2: uptime $up, exit code $rc"
printf '%d\n' "$rc" >"$R/exit" || die "write the exit code"
echo b >/proc/sysrq-trigger
sleep 60
`
