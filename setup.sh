#!/usr/bin/env bash
# Set up a Debian 12 machine (as root) for orchestrator: the system packages
# the pipeline calls (QEMU, the kernel source and toolchain, mmdebstrap),
# then a virtualenv in .venv with the package and its test dependencies.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  python3 python3-venv python3-pip
  qemu-system-x86 qemu-utils ipxe-qemu
  linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev ccache patch
  mmdebstrap e2fsprogs busybox-static cpio xz-utils
  openssh-client
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ready (.venv/bin/orchestrator)"
