#!/bin/bash
# Builds kvmrun's Linux test guest: a small 6.12 kernel (bzImage and ELF
# vmlinux) from Debian's linux-source-6.12 with guests/linux/kernel.config,
# and an uncompressed busybox initramfs with guests/linux/init (unpacking is
# three times faster than gunzip where kernel code is emulated).  Prints the
# directory holding bzImage, vmlinux and initramfs.cpio on its last line.
#
# Cache: $KVMRUN_CACHE (default ~/.cache/kvmrun), three kinds of entries, each
# built in a temporary directory and renamed into place when complete:
#   kernel-KKEY/     bzImage, vmlinux, .config, gen_init_cpio; KKEY hashes
#                    kernel.config, KERNEL_RECIPE and the linux-source-6.12 and
#                    gcc versions.  About 5-8 minutes on 2 cores.
#   initramfs-IKEY/  initramfs.cpio; IKEY hashes init, INITRAMFS_RECIPE and the
#                    busybox-static version.  Seconds.
#   linux-KKEY-IKEY/ hard links (or copies) of the five files above: the
#                    directory this script prints and the tests use.
# So editing guests/linux/init rebuilds only the initramfs.  Any entry can be
# deleted at any time; the next run rebuilds what is missing.
#
# --cached: only print the directory when it is already built (exit 1 if not).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
config=$here/guests/linux/kernel.config
init=$here/guests/linux/init
# Bump when the build steps below change what they produce.
KERNEL_RECIPE=3
INITRAMFS_RECIPE=1
cached_only=0
[ "${1:-}" = --cached ] && cached_only=1
cache=${KVMRUN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/kvmrun}

versions() { dpkg-query -W -f='${Package}=${Version}\n' "$@"; }
kernel_key() {
	local v
	v=$(versions linux-source-6.12 gcc) || return 1
	{ cat "$config"; echo "kernel recipe $KERNEL_RECIPE"; echo "$v"; } | sha256sum | cut -c1-16
}
initramfs_key() {
	local v
	v=$(versions busybox-static) || return 1
	{ cat "$init"; echo "initramfs recipe $INITRAMFS_RECIPE"; echo "$v"; } | sha256sum | cut -c1-16
}

if [ $cached_only = 1 ]; then
	kkey=$(kernel_key 2>/dev/null) && ikey=$(initramfs_key 2>/dev/null) || exit 1
	[ -f "$cache/linux-$kkey-$ikey/done" ] || exit 1
	echo "$cache/linux-$kkey-$ikey"
	exit 0
fi

pkgs=(linux-source-6.12 build-essential flex bison bc libssl-dev libelf-dev busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	echo "build-linux-guest: installing ${missing[*]}" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
fi

kkey=$(kernel_key)
ikey=$(initramfs_key)
kdir=$cache/kernel-$kkey
idir=$cache/initramfs-$ikey
out=$cache/linux-$kkey-$ikey
mkdir -p "$cache"
work=""
trap 'rm -rf "$work"' EXIT

# publish DIR: the finished $work/out becomes DIR in one rename (a concurrent
# build that got there first wins; its result is the same).
publish() {
	touch "$work/out/done"
	mv -T "$work/out" "$1" 2>/dev/null || [ -f "$1/done" ] ||
		{ echo "build-linux-guest: cannot create $1" >&2; exit 1; }
	rm -rf "$work"
	work=""
}

if [ ! -f "$kdir/done" ]; then
	work=$(mktemp -d "$cache/build.XXXXXX")
	echo "build-linux-guest: building kernel $kkey in $work (several minutes)" >&2
	tar -C "$work" -xf /usr/src/linux-source-6.12.tar.xz
	src=$work/linux-source-6.12
	(
		cd "$src"
		make -s tinyconfig >&2
		scripts/kconfig/merge_config.sh -m .config "$config" >/dev/null
		make -s olddefconfig >&2
		# Every option the fragment asks for must have survived olddefconfig.
		bad=0
		while IFS= read -r line; do
			case "$line" in ''|'#'*) continue ;; esac
			opt=${line%%=*} val=${line#*=}
			if [ "$val" = n ]; then
				grep -q "^$opt=" .config && { echo "build-linux-guest: $opt is set, wanted off" >&2; bad=1; }
			else
				grep -qx "$line" .config || { echo "build-linux-guest: $line did not stick" >&2; bad=1; }
			fi
		done <"$config"
		[ $bad = 0 ] || exit 1
		make -s -j"$(nproc)" bzImage vmlinux >&2
	)
	mkdir "$work/out"
	cp "$src/arch/x86/boot/bzImage" "$src/vmlinux" "$src/.config" "$src/usr/gen_init_cpio" "$work/out/"
	versions linux-source-6.12 gcc >"$work/out/versions"
	publish "$kdir"
	echo "build-linux-guest: kernel done: $(du -sh "$kdir" | cut -f1)" >&2
fi

if [ ! -f "$idir/done" ]; then
	work=$(mktemp -d "$cache/build.XXXXXX")
	echo "build-linux-guest: building initramfs $ikey" >&2
	# busybox and our init, with /dev/console for the first process.
	cp /bin/busybox "$work/busybox"
	cp "$init" "$work/init"
	cat >"$work/list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /bin 0755 0 0
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
file /bin/busybox $work/busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $work/init 0755 0 0
LIST
	mkdir "$work/out"
	"$kdir/gen_init_cpio" "$work/list" >"$work/out/initramfs.cpio"
	versions busybox-static >"$work/out/versions"
	publish "$idir"
fi

if [ ! -f "$out/done" ]; then
	work=$(mktemp -d "$cache/build.XXXXXX")
	mkdir "$work/out"
	for f in "$kdir/bzImage" "$kdir/vmlinux" "$kdir/.config" "$idir/initramfs.cpio"; do
		ln "$f" "$work/out/" 2>/dev/null || cp "$f" "$work/out/"
	done
	cat "$kdir/versions" "$idir/versions" >"$work/out/versions"
	publish "$out"
fi
echo "$out"
