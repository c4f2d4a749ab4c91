#!/usr/bin/env bash
# Install what Shifter's tests, kernel VM suite and benchmark need, from
# Debian's archive. Idempotent and quick when everything is there already.
# Without root it installs nothing and says so: tests that need the missing
# parts then skip with a printed reason.
set -euo pipefail

packages=(
  # Upstream proxy and redirect rules for the relay tests.
  squid iptables nftables iproute2 curl openssl procps psmisc
  # Kernel module, shim and the qemu VM suite.
  gcc make libc6-dev linux-headers-amd64 libnl-3-dev libnl-genl-3-dev
  qemu-system-x86 busybox-static kmod cpio sparse
  # The benchmark's reference redirector.
  redsocks
  # systemd-analyze, for the README's unit; setpriv, to run as nobody.
  systemd util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: not root, cannot install: ${missing[*]} (tests needing them will skip)" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian package starts a system Squid on 3128; the tests run their own.
    if command -v systemctl >/dev/null && systemctl is-active -q squid 2>/dev/null; then
      systemctl stop squid || true
    fi
  fi
fi

# The netlink shim, for the resolver's tests and `deno task start`.
cd "$(dirname "$0")/.."
make -s -C libnl-shim >/dev/null 2>&1 ||
  echo "setup: cannot build libnl-shim (needs gcc, libnl-3-dev, libnl-genl-3-dev)" >&2
