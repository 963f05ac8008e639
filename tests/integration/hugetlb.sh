#!/bin/bash
# --hugepages hugetlb: boots when 2 MiB pages are reserved, else one clear error.
run=$1 kvmrun=$2 kernel=$3
free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -ge 32 ]; then
	exec "$run" --needs-kvm --status 33 --out "^PASS" -- "$kvmrun" run --kernel "$kernel" \
		--memory 64M --hugepages hugetlb --append expect_mem=67108864 --timeout 60
fi
exec "$run" --needs-kvm --status 1 --err-lines 1 --err "huge pages" -- \
	"$kvmrun" run --kernel "$kernel" --memory 64M --hugepages hugetlb --timeout 60
