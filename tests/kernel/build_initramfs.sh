#!/bin/bash
# SPDX-License-Identifier: MIT
# Build everything the kernel VM suite boots, under .cache/kernel-vm/:
#   shifter.ko (against the installed headers), libshifter_nl.so, vmtool,
#   the matching Debian kernel image (apt-get download + dpkg-deb -x, never
#   installed), and initramfs.cpio holding busybox, the netfilter modules,
#   iproute2, iptables (legacy), Deno and this project.
# Prints the paths of the kernel and initramfs on its last line.
# Needs: linux-headers-amd64 busybox-static iproute2 iptables kmod cpio gcc
#        make libnl-3-dev libnl-genl-3-dev (and network to the Debian archive
#        on the first run, for the kernel image).
set -euo pipefail
# modprobe, depmod and ip live in sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=$ROOT/.cache/kernel-vm
DENO=${DENO:-$(command -v deno)}
DENO=$(readlink -f "$DENO")
mkdir -p "$CACHE"

# 1. A kernel whose headers are installed and whose image the archive has.
# Installed headers, newest first.
installed_kvers() {
	ls -d /usr/src/linux-headers-*-amd64 2>/dev/null |
		sed 's,.*/linux-headers-,,' | sort -rV
}
# Unpack linux-image-$1 under $CACHE/img-$1, downloading it once. Returns 1
# when the archive does not have it; a failure to unpack ends the script.
fetch_image() {
	local img=$CACHE/img-$1 dl
	[ -f "$img/boot/vmlinuz-$1" ] && return 0
	dl=$(mktemp -d "$CACHE/download.XXXXXX") || exit 1
	if ! (cd "$dl" && apt-get download "linux-image-$1" >&2); then
		rm -rf "$dl"
		return 1
	fi
	rm -rf "$img.tmp"
	if ! { dpkg-deb -x "$dl"/linux-image-"$1"_*.deb "$img.tmp" &&
		depmod -b "$img.tmp" "$1" && mv "$img.tmp" "$img"; }; then
		rm -rf "$dl" "$img.tmp"
		echo "downloaded linux-image-$1 but cannot unpack it into $img" >&2
		exit 1
	fi
	rm -rf "$dl"
}
# Set KVER to the first of the candidates whose image can be had.
pick_kver() {
	local k
	for k in "$@"; do
		if fetch_image "$k"; then
			KVER=$k
			return 0
		fi
	done
	return 1
}
if [ -n "${KVER:-}" ]; then
	# Given: that kernel or none (refresh stale package lists once).
	pick_kver "$KVER" || { apt-get update -qq >&2 && pick_kver "$KVER"; } ||
		{ echo "cannot download linux-image-$KVER from the Debian archive" >&2; exit 1; }
else
	mapfile -t kvers < <(installed_kvers)
	[ ${#kvers[@]} -gt 0 ] ||
		{ echo "no /usr/src/linux-headers-*-amd64: apt-get install linux-headers-amd64" >&2; exit 1; }
	# The archive keeps only its current kernel. Package lists from long ago
	# name files it no longer has: refresh them. Headers from long ago match
	# no image it still has: as root, bring in its current headers, as
	# scripts/setup.sh installs what the tests need (the old ones stay).
	if ! pick_kver "${kvers[@]}"; then
		apt-get update -qq >&2 || true
		if ! pick_kver "${kvers[@]}"; then
			if [ "$(id -u)" != 0 ]; then
				echo "no kernel image matches the installed headers (${kvers[*]}):" \
					"as root, apt-get update && apt-get install linux-headers-amd64" >&2
				exit 1
			fi
			echo "the archive has no image for the installed headers (${kvers[*]}):" \
				"upgrading linux-headers-amd64" >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends linux-headers-amd64 >&2 || true
			mapfile -t kvers < <(installed_kvers)
			pick_kver "${kvers[@]}" || {
				echo "cannot download a kernel image matching the installed headers" \
					"(${kvers[*]}) from the Debian archive" >&2
				exit 1
			}
		fi
	fi
fi
# KDIR: a headers tree elsewhere (e.g. a newer kernel's, unpacked with dpkg-deb -x).
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
IMG=$CACHE/img-$KVER

# 2. Our binaries.
make -s -C "$ROOT/kernel" KVER="$KVER" KDIR="$KDIR" >&2
make -s -C "$ROOT/libnl-shim" >&2
gcc -O2 -Wall -Wextra -Wno-unused-parameter -I/usr/include/libnl3 \
	-I"$ROOT/kernel/uapi" -I"$ROOT/libnl-shim" \
	-o "$CACHE/vmtool" "$ROOT/tests/kernel/vmtool.c" \
	-L"$ROOT/libnl-shim" -Wl,-rpath,/shifter/libnl-shim \
	-lshifter_nl -lnl-genl-3 -lnl-3

# 3. The initramfs tree.
TREE=$CACHE/tree
rm -rf "$TREE"
mkdir -p "$TREE"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,etc,mods,shifter,var/run}
cp /bin/busybox "$TREE/bin/busybox"
cp "$ROOT/tests/kernel/init" "$TREE/init"
chmod 755 "$TREE/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$TREE/etc/passwd"
echo "nobody:x:65534:65534:nobody:/tmp:/bin/sh" >>"$TREE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$TREE/etc/group"

# Netfilter, veth and VRF modules, in insmod order, without duplicates.
: >"$TREE/mods/order"
for m in iptable_nat ip6table_nat xt_REDIRECT xt_tcpudp xt_owner veth vrf; do
	modprobe -d "$IMG" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	# busybox insmod takes plain .ko files: newer kernels ship them compressed.
	name=$(basename "$ko")
	case "$ko" in
	*.xz) name=${name%.xz}; xz -dc "$ko" >"$TREE/mods/$name" ;;
	*.zst) name=${name%.zst}; zstd -qdc "$ko" >"$TREE/mods/$name" ;;
	*) cp "$ko" "$TREE/mods/" ;;
	esac
	echo "$name" >>"$TREE/mods/order"
done

# Dynamic executables and the libraries they need.
copy_libs() {
	ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' |
	while read -r lib; do
		mkdir -p "$TREE$(dirname "$lib")"
		[ -e "$TREE$lib" ] || cp -L "$lib" "$TREE$lib"
	done
}
copy_bin() {
	mkdir -p "$(dirname "$TREE$2")"
	cp -L "$1" "$TREE$2"
	copy_libs "$1"
}
copy_bin "$(command -v ip)" /usr/sbin/ip
copy_bin /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-legacy-multi
for t in iptables ip6tables; do ln -sf xtables-legacy-multi "$TREE/usr/sbin/$t"; done
XT=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$TREE$XT"
cp "$XT"/libxt_standard.so "$XT"/libxt_tcp.so "$XT"/libxt_REDIRECT.so \
	"$XT"/libxt_owner.so "$XT"/libipt_REDIRECT.so "$XT"/libip6t_REDIRECT.so \
	"$TREE$XT/" 2>/dev/null || true
for so in "$TREE$XT"/*.so; do copy_libs "$so"; done
copy_bin "$CACHE/vmtool" /usr/bin/vmtool
copy_bin "$ROOT/libnl-shim/libshifter_nl.so" /shifter/libnl-shim/libshifter_nl.so
copy_bin "$DENO" /usr/bin/deno

# The project (working tree, without git and caches) and its npm deps.
tar -C "$ROOT" --exclude=./.git --exclude=./.cache --exclude=./node_modules --exclude=./dist --exclude=./bench/results \
	--exclude='*.o' --exclude='*.mod.c' --exclude='.*.cmd' -cf - . |
	tar -C "$TREE/shifter" -xf -
export DENO_DIR=$CACHE/deno_dir
if [ -f "$ROOT/mod.ts" ]; then
	(cd "$ROOT" && "$DENO" cache mod.ts >&2) || echo "warning: deno cache mod.ts failed" >&2
fi
if [ -d "$DENO_DIR" ]; then
	mkdir -p "$TREE/deno_dir"
	cp -a "$DENO_DIR/." "$TREE/deno_dir/"
fi

(cd "$TREE" && find . -print0 | cpio --null -o -H newc --quiet) >"$CACHE/initramfs.cpio"
echo "$IMG/boot/vmlinuz-$KVER $CACHE/initramfs.cpio"
