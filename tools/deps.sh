#!/bin/bash
# Installs the Debian 12 packages kvmrun needs: `tools/deps.sh build` for
# building and running, `tools/deps.sh test` for the test suite too,
# `tools/deps.sh fuzz` for the fuzz targets (clang 14; libFuzzer is in
# libclang-rt-14-dev).
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libelf-dev libjson-c-dev)
test_pkgs=(check e2fsprogs python3 qemu-system-common)	# qemu-system-common: virtiofsd, qemu-storage-daemon
fuzz_pkgs=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
case "${1:-build}" in
test) want+=("${test_pkgs[@]}") ;;
fuzz) want+=("${fuzz_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
