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
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm || fail "mount /dev/shm"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs run || fail "mount /run"
mount -t cgroup2 cgroup2 sys/fs/cgroup || echo "vmlab stage 1: no cgroup2"
mkdir -p run/vmlab
mount -t 9p -o "$opts" run run/vmlab || fail "mount the run share"
read -r mods <run/vmlab/modules || fail "read run/vmlab/modules"
abi=$(uname -r)
mkdir -p "lib/modules/$abi"
mount -o bind "/lower$mods" "lib/modules/$abi" || fail "bind $mods"
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
reboot_now() { sync; echo b >/proc/sysrq-trigger; sleep 60; }
die() {
	echo "vmlab stage 2: FAILED: $*"
	printf '%s\n' "$*" >"$R/setup-error"
	reboot_now
}
echo "vmlab stage 2: uptime $(cut -d' ' -f1 /proc/uptime)"
ip link set lo up || die "ip link set lo up"
mkdir -p /run/netns /run/lock /run/user /tmp /var/tmp || die "mkdir in /run"
chmod 1777 /run/lock
hostname vmlab
if [[ -s $R/shares ]]; then
	mapfile -d '' -t shares <"$R/shares"
	for ((i = 0; i + 1 < ${#shares[@]}; i += 2)); do
		mkdir -p -- "${shares[i+1]}" &&
			mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "${shares[i]}" "${shares[i+1]}" ||
			die "mount the share ${shares[i+1]}"
	done
fi
mapfile -d '' -t argv <"$R/argv" || die "read argv"
mapfile -d '' -t envv <"$R/env" || die "read env"
IFS= read -r -d '' dir <"$R/dir"
cd -- "$dir" || die "cd $dir"
err=/dev/hvc1
[[ -e $R/merge ]] && err=/dev/hvc0
echo "vmlab stage 2: running at uptime $(cut -d' ' -f1 /proc/uptime)"
env -i -- "${envv[@]}" "${argv[@]}" >/dev/hvc0 2>"$err"
rc=$?
echo "vmlab stage 2: exit code $rc at uptime $(cut -d' ' -f1 /proc/uptime)"
printf '%d\n' "$rc" >"$R/exit.tmp" && mv "$R/exit.tmp" "$R/exit" || die "write the exit code"
reboot_now
`
