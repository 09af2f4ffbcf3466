#!/usr/bin/env bash
# The image's install steps, in one script that the Dockerfile runs and CI runs too (deploy/check-image.sh,
# in a Debian 13 + Node 24 root filesystem), so that what CI checks is what the image holds.
#
#   install.sh app SOURCE TARGET   build stage (node:24-trixie): install, compile src/, keep the
#                                  production dependencies only, and only the uWS binary this
#                                  platform and Node load; the result is TARGET.
#   install.sh system              runtime stage (node:24-trixie-slim): tini, the non-root user
#                                  (uid 1000, `node` in the Node images) and its volume directories.
set -euo pipefail

UID_GID=1000
STATE_DIRS=(/var/lib/kinesis-gateway/spool /var/lib/kinesis-gateway/dead-letter)

say() { echo "install.sh: $*" >&2; }

app() {
  local source=$1 target=$2
  cd "$source"
  # Every dependency as the lockfile says, without install scripts: the root's `prepare` would
  # compile the tests too, and the production dependencies that have scripts (leveldown,
  # bufferutil, utf-8-validate) only pick a prebuilt binary, which node-gyp-build does at run time.
  npm ci --ignore-scripts --no-audit --no-fund
  npx tsc -p deploy/image/tsconfig.json
  npm prune --omit=dev --ignore-scripts --no-audit --no-fund

  local abi platform
  abi=$(node -p process.versions.modules)
  platform=$(node -p 'process.platform + "_" + process.arch')
  # uWebSockets.js ships a binary for every platform and Node ABI (~114 MB): keep the one this
  # Node loads. The loader (src/http/uws.ts) requires it first and needs nothing else.
  local keep="uws_${platform}_${abi}.node"
  [ -f "node_modules/uWebSockets.js/$keep" ] || { say "uWebSockets.js has no $keep for Node $(node --version)"; exit 1; }
  find node_modules/uWebSockets.js -name 'uws_*.node' ! -name "$keep" -delete
  # The legacy 20.30.0 build serves Node 16 to 20 only (ABIs 93, 108, 115); on a newer Node it can
  # only offer its slow pure-Node fallback, which the image never wants.
  case "$abi" in
    93|108|115) find node_modules/uws-legacy -name 'uws_*.node' ! -name "uws_${platform}_${abi}.node" -delete ;;
    *) rm -rf node_modules/uws-legacy ;;
  esac
  # leveldown (the embedded local Kinesis) carries prebuilt binaries for eight platforms.
  local prebuilds=node_modules/leveldown/prebuilds
  if [ -d "$prebuilds" ]; then
    find "$prebuilds" -mindepth 1 -maxdepth 1 ! -name "$(node -p 'process.platform + "-" + process.arch')" -exec rm -rf {} +
  fi

  mkdir -p "$target"
  find "$target" -mindepth 1 -delete
  mkdir -p "$target/dist"
  cp -a package.json package-lock.json node_modules "$target/"
  cp -a dist/src "$target/dist/src"
  cp deploy/image/healthcheck.js "$target/healthcheck.js"
  # Checks that the gateway's uWS loader finds the official build in what is left.
  (cd "$target" && node -e "const { UWS_BUILD } = require('./dist/src/http/uws.js'); if (UWS_BUILD.kind !== 'official') { console.error('the image would run the', UWS_BUILD.kind, 'uWS build'); process.exit(1); }")
  say "installed in $target: $(du -sh "$target" | cut -f1) (node_modules $(du -sh "$target/node_modules" | cut -f1))"
}

system() {
  if ! command -v tini >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
    rm -rf /var/lib/apt/lists/*
  fi
  # The Node images have this user (node, 1000:1000); a bare Debian does not.
  getent group "$UID_GID" >/dev/null || groupadd --gid "$UID_GID" node
  getent passwd "$UID_GID" >/dev/null || useradd --uid "$UID_GID" --gid "$UID_GID" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin node
  mkdir -p "${STATE_DIRS[@]}"
  chown "$UID_GID:$UID_GID" "${STATE_DIRS[@]}"
  chmod 0750 "${STATE_DIRS[@]}"
}

case "${1:-}" in
  app) [ $# -eq 3 ] || { echo "usage: $0 app SOURCE TARGET" >&2; exit 2; }; app "$2" "$3" ;;
  system) system ;;
  *) echo "usage: $0 app SOURCE TARGET | system" >&2; exit 2 ;;
esac
