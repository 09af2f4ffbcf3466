#!/usr/bin/env bash
# The tests run a real Prometheus (and promtool) from Debian's packages. Installs them when they are
# missing and this user can; otherwise says what to install.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's prometheus package for the metrics tests" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  exit 0
fi
echo "the metrics tests need prometheus and promtool: run 'sudo apt-get install -y prometheus'" >&2
exit 1
