#!/bin/bash
# Builds kvmrun's Linux test guest: a small 6.12 kernel (bzImage and ELF
# vmlinux) from Debian's linux-source-6.12 with guests/linux/kernel.config,
# and an uncompressed busybox initramfs with guests/linux/init (unpacking is
# three times faster than gunzip where kernel code is emulated).  The result is cached
# outside the clone, keyed by the recipe and the package versions, so it is
# built once per machine.  Prints the directory holding bzImage, vmlinux and
# initramfs.cpio on its last line.
#
# Cache: $KVMRUN_CACHE (default ~/.cache/kvmrun).  About 5 minutes on 2 cores.
# --cached: only print the directory when it is already built (exit 1 if not).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
recipe=("$here/guests/linux/kernel.config" "$here/guests/linux/init")
# Bump when the build steps below change what they produce.
RECIPE_VERSION=2
cached_only=0
[ "${1:-}" = --cached ] && cached_only=1
cache=${KVMRUN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/kvmrun}

recipe_key() {
	local versions
	versions=$(dpkg-query -W -f='${Package}=${Version}\n' linux-source-6.12 busybox-static gcc) || return 1
	{ cat "${recipe[@]}"; echo "recipe $RECIPE_VERSION"; echo "$versions"; } | sha256sum | cut -c1-16
}

if [ $cached_only = 1 ]; then
	key=$(recipe_key 2>/dev/null) || exit 1
	[ -f "$cache/linux-$key/done" ] || exit 1
	echo "$cache/linux-$key"
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

versions=$(dpkg-query -W -f='${Package}=${Version}\n' linux-source-6.12 busybox-static gcc)
key=$(recipe_key)
out=$cache/linux-$key
if [ -f "$out/done" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-linux-guest: building kernel $key in $work (several minutes)" >&2
tar -C "$work" -xf /usr/src/linux-source-6.12.tar.xz
src=$(echo "$work"/linux-source-6.12)
cd "$src"
make -s tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$here/guests/linux/kernel.config" >/dev/null
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
done <"$here/guests/linux/kernel.config"
[ $bad = 0 ] || exit 1
make -s -j"$(nproc)" bzImage vmlinux >&2

# initramfs: busybox and our init, with /dev/console for the first process.
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/busybox"
cp "$here/guests/linux/init" "$work/root/init"
cat >"$work/list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /bin 0755 0 0
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
file /bin/busybox $work/root/bin/busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $work/root/init 0755 0 0
LIST
usr/gen_init_cpio "$work/list" >"$work/initramfs.cpio"

mkdir -p "$out.tmp"
cp arch/x86/boot/bzImage vmlinux .config "$work/initramfs.cpio" "$out.tmp/"
echo "$versions" >"$out.tmp/versions"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/done"
echo "build-linux-guest: done: $(du -sh "$out" | cut -f1)" >&2
echo "$out"
