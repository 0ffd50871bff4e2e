#!/usr/bin/env bash
# Set up a Debian 12 machine (as root) for orchestrator: the system packages
# the pipeline calls (QEMU, the kernel sources and toolchain, mmdebstrap),
# then a virtualenv in .venv with the package and its test dependencies.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# linux-source-6.1 is Debian 12's own kernel; linux-source-6.12 (the 6.12
# recipes) comes from bookworm-security or bookworm-backports, see
# ensure_candidate below.
KERNEL_SOURCES=(linux-source-6.1 linux-source-6.12)
APT_PACKAGES=(
  python3 python3-venv python3-pip
  qemu-system-x86 qemu-utils ipxe-qemu
  "${KERNEL_SOURCES[@]}" build-essential bc bison flex libelf-dev libssl-dev ccache patch
  mmdebstrap e2fsprogs busybox-static cpio xz-utils
  openssh-client
  chromium  # the test tier loads the HTML report in headless Chromium
)
BACKPORTS_LIST=/etc/apt/sources.list.d/orchestrator-backports.sources

has_candidate() {
  # read whole, then match: `grep -q` would end the pipe early (pipefail)
  local policy
  policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
  [[ $policy =~ Candidate:\ [^\(] ]]
}

# The mirror apt already uses for the release itself (a local mirror or a
# proxy carries over; no host name is written here).
release_mirror() {
  apt-get indextargets --format '$(RELEASE) $(COMPONENT) $(REPO_URI)' 'Created-By: Packages' |
    awk -v rel="$1" '!found && $1 == rel && $2 == "main" { print $3; found = 1 }'
}

# A package that no configured suite has (a fresh Debian 12 without the
# security suite, say): enable <codename>-backports from the release's own
# mirror, once, then look again.
ensure_candidate() {
  has_candidate "$1" && return 0
  if [ ! -e "$BACKPORTS_LIST" ]; then
    local codename mirror
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    mirror=$(release_mirror "$codename")
    if [ -z "$codename" ] || [ -z "$mirror" ]; then
      echo "setup: $1 has no candidate and no apt source serves '$codename' main to add backports from" >&2
      return 1
    fi
    echo "setup: enabling $codename-backports from $mirror (for $1)"
    {
      echo "Types: deb"
      echo "URIs: $mirror"
      echo "Suites: $codename-backports"
      echo "Components: main"
      [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    } >"$BACKPORTS_LIST.tmp"
    mv "$BACKPORTS_LIST.tmp" "$BACKPORTS_LIST"
    apt-get update -q
  fi
  has_candidate "$1" || { echo "setup: no apt source has $1" >&2; return 1; }
}

# One line per step; each step's own output goes to the log, shown only
# when the step fails.
LOG=${TMPDIR:-/tmp}/orchestrator-setup.log
: >"$LOG"
step() {
  local what=$1
  shift
  echo "setup: $what"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup: FAILED: $what; the last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}

install_missing() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  for pkg in "${KERNEL_SOURCES[@]}"; do
    ensure_candidate "$pkg"
  done
  apt-get install -y -q --no-install-recommends "$@"
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "apt: installing ${missing[*]}" install_missing "${missing[@]}"
else
  echo "setup: apt: every package is installed"
fi

if [ ! -x .venv/bin/python ]; then
  step "virtualenv .venv" python3 -m venv .venv
fi
step "pip: upgrading pip" .venv/bin/python -m pip install -q --upgrade pip
step "pip: orchestrator and its test dependencies" .venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ready (.venv/bin/orchestrator)"
