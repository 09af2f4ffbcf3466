#!/usr/bin/env bash
# The tests run a real Prometheus (and promtool) and a real Chromium, from Debian's packages.
# Installs them when they are missing and this user can; otherwise says what to install.
set -euo pipefail
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages the tests use: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "the tests need Debian packages: run 'sudo apt-get install -y ${missing[*]}'" >&2
exit 1
