#!/usr/bin/env bash
# What the Dockerfile builds, checked without a Docker engine. CI runs it as root in a Debian 13 +
# Node 24 root filesystem (the image's base), in a fresh copy of the checkout:
#
#   bash scripts/modern-runtime.sh -- bash deploy/check-image.sh
#
# It stages the Docker build context, the checkout less what .dockerignore excludes, in /src (the
# build stage's WORKDIR), and runs deploy/image/install.sh from there as both of the Dockerfile's
# stages do (the runtime stage's on
# /etc, /usr and /var overlaid in memory, without tini as node:24-trixie-slim is, so that the
# script's own apt-get install of tini runs every time and the cached root filesystem stays as it
# was), then starts the gateway the way the image would: the Dockerfile's ENTRYPOINT and CMD (read
# from it), its user, working directory and environment, the application directory read-only and
# the volumes writable. It checks the uWS build, readiness, the HEALTHCHECK command, an event on the
# (embedded local) stream, and a clean SIGTERM: readiness 503 while events are still taken for the
# drain delay, then exit 0 with everything shipped. The size of what the install leaves behind must
# be the one docs/deploying.md states (deploy/settings.json's image.installMiB, within its tolerance).
set -euo pipefail
cd "$(dirname "$0")/.."
source=$PWD

say() { echo "check-image: $*" >&2; }
fail() { echo "check-image: FAILED: $*" >&2; [ -n "${log:-}" ] && [ -f "$log" ] && tail -n 30 "$log" >&2; exit 1; }

# The files of DIR that `docker build DIR` sends as its context: all but what DIR/.dockerignore
# excludes, one relative path each, NUL-terminated. Docker's rules for the patterns this project
# uses: each is matched against the whole path from the context's root (so `*.log` is a top-level
# file only), `*` and `?` stay within one path segment, `**` spans any number of them, and a path
# is out when it or a directory above it matches. A pattern with a feature not implemented here
# (`!` exceptions, `[…]` classes, `\` escapes) stops the check rather than be applied wrongly.
context_files() { node -e '
  const fs = require("fs"), path = require("path");
  const root = process.argv[1];
  let ignore = "";
  try { ignore = fs.readFileSync(path.join(root, ".dockerignore"), "utf8"); } catch (e) { if (e.code !== "ENOENT") throw e; }
  const escape = (text) => text.replace(/[.+^${}()|]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  const patterns = ignore.split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#")).map((pattern) => {
    if (/^!|[[\]\\]/.test(pattern)) { console.error(`.dockerignore: ${JSON.stringify(pattern)} uses a feature check-image.sh does not implement`); process.exit(2); }
    const segments = path.posix.normalize(pattern).replace(/^\/+/, "").replace(/\/+$/, "").split("/");
    const source = segments.map((segment, i) => segment === "**" ? (i === segments.length - 1 ? ".*" : "(?:.*/)?") : escape(segment) + (i === segments.length - 1 ? "" : "/")).join("");
    return new RegExp(`^${source}$`);
  });
  const kept = [];
  (function walk(dir) {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      if (patterns.some((pattern) => pattern.test(relative))) continue;
      if (entry.isDirectory()) walk(relative);
      else kept.push(relative);
    }
  })("");
  process.stdout.write(kept.map((file) => file + "\0").join(""));
' "$1"; }

# `check-image.sh --list-context DIR`: print the build context of DIR, one path a line, and stop
# (test/deploy/ checks the rules above on it).
if [ "${1:-}" = --list-context ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --list-context DIR" >&2; exit 2; }
  context_files "$2" | tr '\0' '\n'
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "needs root (it installs packages, adds a user and mounts)"
# Mounts made here end with this process: a mount namespace of its own (inside modern-runtime.sh's
# private one, whose propagation it keeps: a chroot cannot change it), and they are undone on exit.
if [ "${KG_CHECK_IMAGE_UNSHARED:-}" != 1 ]; then
  exec env KG_CHECK_IMAGE_UNSHARED=1 unshare --mount --propagation unchanged -- bash "$0" "$@"
fi

# The Dockerfile's instructions that decide how the gateway runs.
dockerfile() { node -e '
  const text = require("fs").readFileSync("Dockerfile", "utf8").replace(/\\\n/g, " ");
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const stages = lines.join("\n").split(/^FROM /m);
  const last = stages[stages.length - 1].split("\n");
  const get = (name) => last.filter((l) => l.toUpperCase().startsWith(name + " ")).map((l) => l.slice(name.length + 1).trim());
  const what = process.argv[1];
  if (what === "ENTRYPOINT" || what === "CMD") console.log(JSON.parse(get(what).pop()).join("\n"));
  else if (what === "HEALTHCHECK") console.log(JSON.parse(get(what).pop().replace(/^.*?CMD /, "")).join("\n"));
  else if (what === "ENV") for (const l of get("ENV")) console.log(l);
  else console.log(get(what).pop());
' "$1"; }

mapfile -t entrypoint < <(dockerfile ENTRYPOINT)
mapfile -t cmd < <(dockerfile CMD)
mapfile -t healthcheck < <(dockerfile HEALTHCHECK)
mapfile -t image_env < <(dockerfile ENV)
user=$(dockerfile USER)
workdir=$(dockerfile WORKDIR)
say "image command: ${entrypoint[*]} ${cmd[*]} (user $user, in $workdir)"

# A private tmpfs for what the image holds, so that the cached root filesystem stays as it was and
# runs side by side do not meet.
mkdir -p "$workdir"
pid=""
overlay=$(mktemp -d /tmp/check-image-root-XXXXXX)
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  cd /
  umount -R "$workdir" /var/lib/kinesis-gateway "${context:-/src}" 2>/dev/null || true
  # Lazily: this shell runs from the overlaid /usr.
  umount -l /var /usr /etc 2>/dev/null || true
  umount -l "$overlay" 2>/dev/null || true
  rmdir "$overlay" 2>/dev/null || true
  # fail() has shown the log's tail: the cached root filesystem keeps nothing of a run.
  rm -f "${log:-}"
}
trap cleanup EXIT
# What the runtime stage changes (tini and its apt lists, the user, the volume directories) goes to
# memory: /etc, /usr and /var as overlays whose upper layers are a tmpfs.
mount -t tmpfs -o size=512m kinesis-gateway-root "$overlay"
for dir in etc usr var; do
  mkdir -p "$overlay/$dir/upper" "$overlay/$dir/work"
  mount -t overlay "kinesis-gateway-$dir" -o "lowerdir=/$dir,upperdir=$overlay/$dir/upper,workdir=$overlay/$dir/work" "/$dir"
done
mkdir -p /var/lib/kinesis-gateway
mount -t tmpfs -o size=1g kinesis-gateway-app "$workdir"
mount -t tmpfs -o size=256m kinesis-gateway-state /var/lib/kinesis-gateway

# node:24-trixie-slim has no tini: install.sh must bring it.
if dpkg-query -W -f='${Status}' tini 2>/dev/null | grep -q 'install ok installed'; then
  say "tini is in the cached root filesystem: removed (in the overlay) so that install.sh installs it"
  DEBIAN_FRONTEND=noninteractive dpkg --purge tini >/dev/null
fi
! command -v tini >/dev/null || fail "tini is still there before install.sh system"
# The build context as `docker build .` sends it, where the build stage has it (WORKDIR /src,
# COPY . .): a file the image needs that .dockerignore leaves out fails the install below.
context=/src
mkdir -p "$context"
mount -t tmpfs -o size=2g kinesis-gateway-src "$context"
context_files "$source" >"$overlay/context-files" || fail "could not list the build context"
tar --null --no-recursion -C "$source" -T "$overlay/context-files" -cf - | tar -xf - -C "$context"
say "build context: $(tr -cd '\0' <"$overlay/context-files" | wc -c) files in $context ($(ls -A "$context" | tr '\n' ' '))"

# Both stages run install.sh from the context: the runtime stage COPYs it from there too.
cd "$context"
say "runtime stage: install.sh system"
bash deploy/image/install.sh system
dpkg-query -W -f='${Status}' tini 2>/dev/null | grep -q 'install ok installed' || fail "install.sh system did not install the tini package"
[ -x /usr/bin/tini ] || fail "install.sh system left no /usr/bin/tini"
say "install.sh system installed tini $(dpkg-query -W -f='${Version}' tini) with apt"
say "build stage: install.sh app $context $workdir"
bash deploy/image/install.sh app "$context" "$workdir"
# What the image's application layer holds, as the Dockerfile's COPY --from=build gives it.
chown -R root:root "$workdir"
mount --bind "$workdir" "$workdir" && mount -o remount,bind,ro "$workdir"

# Its size against the figure docs/deploying.md states, from deploy/settings.json: a change that
# grows or shrinks the image by more than the tolerance (a platform's binaries left in, a
# dependency gone) fails here until both are updated.
read -r documented_mib tolerance_mib < <(node -e '
  const { image } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!(image?.installMiB > 0 && image.installToleranceMiB > 0)) throw new Error("deploy/settings.json: image.installMiB and image.installToleranceMiB must be positive numbers");
  console.log(image.installMiB, image.installToleranceMiB);
' "$source/deploy/settings.json")
[ -n "${tolerance_mib:-}" ] || fail "no image size in deploy/settings.json"
measured_mib=$(du -sk "$workdir" | awk '{printf "%.1f", $1 / 1024}')
say "the install leaves $measured_mib MiB in $workdir (node_modules $(du -sh "$workdir/node_modules" | cut -f1)); documented: about $documented_mib MiB ± $tolerance_mib"
awk -v m="$measured_mib" -v d="$documented_mib" -v t="$tolerance_mib" 'BEGIN { exit !(m >= d - t && m <= d + t) }' ||
  fail "the install leaves $measured_mib MiB, not about $documented_mib MiB ± $tolerance_mib: update image.installMiB in deploy/settings.json and the size in docs/deploying.md if that is meant"

free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
port=$(free_port); admin_port=$(free_port); kinesis_port=$(free_port)
log=$(mktemp /tmp/check-image-XXXXXX.log)
chmod 644 "$log"

# The image's environment, plus the ports (environment variables, so the CMD's flags stay as they are).
run_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent "${image_env[@]}"
  GATEWAY_PORT="$port" GATEWAY_ADMIN_PORT="$admin_port" GATEWAY_LOCAL_KINESIS_PORT="$kinesis_port")
as_user=(setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups)
cd "$workdir"
"${run_env[@]}" "${as_user[@]}" "${entrypoint[@]}" "${cmd[@]}" >"$log" 2>&1 &
pid=$!

http() { # METHOD URL [BODY] -> prints "STATUS BODY"
  node -e '
    const [method, url, body] = process.argv.slice(1);
    fetch(url, { method, body, headers: body ? { "content-type": "application/json" } : {} })
      .then(async (r) => console.log(r.status, await r.text()), (e) => console.log(0, e.message));
  ' "$@"
}
log_field() { # the first log line whose msg matches $1, field $2
  node -e '
    const [file, pattern, field] = process.argv.slice(1);
    for (const text of require("fs").readFileSync(file, "utf8").split("\n")) {
      let line; try { line = JSON.parse(text); } catch { continue; }
      if (new RegExp(pattern).test(line.msg)) { console.log(JSON.stringify(field.split(".").reduce((v, k) => v?.[k], line))); process.exit(0); }
    }
  ' "$log" "$1" "$2"
}

deadline=$((SECONDS + 60))
until [ "$(http GET "http://127.0.0.1:$admin_port/readyz" | cut -d' ' -f1)" = 200 ]; do
  kill -0 $pid 2>/dev/null || fail "the gateway exited before it was ready"
  [ $SECONDS -lt $deadline ] || fail "not ready within 60 s"
  sleep 0.2
done
say "ready: $(http GET "http://127.0.0.1:$admin_port/readyz")"

uws_kind=$(log_field "uWebSockets" uws.kind | tr -d "\"")
[ "$uws_kind" = official ] || fail "the image runs the $uws_kind uWS build, not the official one"
node_pid=$(cat /proc/$pid/task/$pid/children 2>/dev/null | tr -d ' ')
[ -n "$node_pid" ] || fail "no node process under the init"
[ "$(awk '/^Uid:/ {print $2}' /proc/"$node_pid"/status)" = "${user%%:*}" ] || fail "the gateway does not run as uid ${user%%:*}"
[ "$(cat /proc/$pid/comm)" = tini ] || fail "the init is $(cat /proc/$pid/comm), not tini"
say "uWS build: $uws_kind; node runs as uid ${user%%:*} under tini"

"${run_env[@]}" "${as_user[@]}" "${healthcheck[@]}" || fail "the HEALTHCHECK command failed"
say "HEALTHCHECK (${healthcheck[*]}): ok"

marker="check-image-$$-$RANDOM"
answer=$(http POST "http://127.0.0.1:$port/v1/events" "{\"type\":\"check\",\"marker\":\"$marker\",\"n\":1}")
[ "${answer%% *}" = 202 ] || fail "POST /v1/events answered $answer"
endpoint=$(log_field 'ready$' kinesisEndpoint | tr -d '"')
tapped=$(node dist/src/cli.js tap --endpoint "$endpoint" --stream events --idle-exit 2)
grep -q "\"marker\":\"$marker\",\"n\":1" <<<"$tapped" || fail "the event is not on the stream: $tapped"
say "event on the stream: $(grep "$marker" <<<"$tapped")"

# SIGTERM as the orchestrator sends it: to the init, which passes it on.
drain_ms=$(node -e 'const a = process.argv.slice(1); console.log(a[a.indexOf("--drain-delay-ms") + 1])' "${cmd[@]}")
shutdown_ms=$(node -e 'const a = process.argv.slice(1); console.log(a[a.indexOf("--shutdown-timeout-ms") + 1])' "${cmd[@]}")
terminated=$SECONDS
kill -TERM $pid
until [ "$(http GET "http://127.0.0.1:$admin_port/readyz" | cut -d' ' -f1)" = 503 ]; do
  [ $((SECONDS - terminated)) -lt 5 ] || fail "readiness did not drop within 5 s of SIGTERM"
  sleep 0.1
done
answer=$(http POST "http://127.0.0.1:$port/v1/events" "{\"type\":\"check\",\"marker\":\"$marker\",\"n\":2}")
[ "${answer%% *}" = 202 ] || fail "during the drain delay POST /v1/events answered $answer"
say "after SIGTERM: readiness 503, events still taken (the ${drain_ms} ms drain delay)"
set +e
timeout $(((drain_ms + shutdown_ms) / 1000 + 10)) tail --pid=$pid -f /dev/null
wait $pid
status=$?
set -e
pid=""
[ $status = 0 ] || fail "the gateway exited with $status after SIGTERM"
shipped=$(log_field '^shutdown complete$' eventsShipped)
[ "$shipped" = 2 ] || fail "shutdown complete says eventsShipped=$shipped, expected 2"
say "exit 0 after $((SECONDS - terminated)) s, shutdown complete with both events shipped"

say "the install's largest packages:"
# awk, not head, takes the first six: head would exit while sort still writes, and under pipefail
# sort's SIGPIPE would fail the check (it did, now and then). du's status does not matter here.
{ du -s "$workdir"/node_modules/* "$workdir"/node_modules/@*/* 2>/dev/null || true; } | sort -rn | awk 'NR <= 6 {printf "  %6.1f MiB  %s\n", $1 / 1024, $2}' >&2
say "OK"
