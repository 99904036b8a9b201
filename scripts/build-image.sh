#!/usr/bin/env bash
# Builds the edge image from Dockerfile.edge and checks it without starting a container (podman run does not work on these machines).
#
# Usage: scripts/build-image.sh
# Env:   EDGE_IMAGE (default localhost/customs-edge:dev), BASE_IMAGE (default localhost/customs-node-base:bookworm),
#        NPM_CA_FILE (PEM bundle npm inside the build trusts; default: npm's cafile setting, else the system bundle).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${EDGE_IMAGE:-localhost/customs-edge:dev}
export BASE_IMAGE=${BASE_IMAGE:-localhost/customs-node-base:bookworm}
log() { printf '[build-image] %s\n' "$*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

bash scripts/make-base-image.sh

# The registry may be reached through a TLS-intercepting proxy whose CA only this machine's bundle holds; it goes into
# the build as a secret (not a layer). An empty file means "node's own CAs only".
ca=${NPM_CA_FILE:-}
if [[ -z $ca ]]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  [[ $ca == null || $ca == undefined ]] && ca=
fi
[[ -z $ca && -r /etc/ssl/certs/ca-certificates.crt ]] && ca=/etc/ssl/certs/ca-certificates.crt
secret_tmp=
if [[ -z $ca ]]; then
  secret_tmp=$(mktemp)
  ca=$secret_tmp
fi
[[ -r $ca ]] || die "CA bundle $ca is not readable (set NPM_CA_FILE)"

ctr=
mnt=
mnt_ok=0
proc_ok=0
mq_pid=
run_pid=
work=
cleanup() {
  [[ -n $run_pid ]] && kill "$run_pid" 2>/dev/null
  [[ -n $mq_pid ]] && kill "$mq_pid" 2>/dev/null
  [[ $proc_ok == 1 ]] && umount "$mnt/proc" 2>/dev/null
  [[ -n $work ]] && rm -rf "$work"
  if [[ -n $ctr ]]; then
    [[ $mnt_ok == 1 ]] && podman umount "$ctr" >/dev/null 2>&1
    podman rm -f "$ctr" >/dev/null 2>&1
  fi
  [[ -n $secret_tmp ]] && rm -f "$secret_tmp"
  return 0
}
trap cleanup EXIT

log "podman build $IMAGE"
t0=$SECONDS
# --format docker: the OCI format has no HEALTHCHECK and podman would drop it. --isolation=chroot: RUN steps work
# without the namespaces and cgroups a container runtime needs.
podman build --isolation=chroot --format docker --layers \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --secret "id=npm-ca,src=$ca" \
  -f Dockerfile.edge -t "$IMAGE" . || die "podman build of $IMAGE failed (output above)"
log "built in $((SECONDS - t0)) s"

# --- checks on the image configuration ---
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
case "${user%%:*}" in
  '' | 0 | root) die "image runs as root (Config.User='$user'); Dockerfile.edge must end with a USER line" ;;
esac
log "runs as user $user"
health=$(podman image inspect --format '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{end}}' "$IMAGE")
[[ $health == *health* ]] || die "image has no HEALTHCHECK running 'health' (got '${health:-none}'); was it built with --format docker?"
log "healthcheck $health"
entry=$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
log "entrypoint/cmd $entry"

# --- checks on the filesystem, through a mounted container that is never started ---
ctr=$(podman create "$IMAGE")
mnt=$(podman mount "$ctr")
mnt_ok=1
uid=${user%%:*}
gid=${user#*:}
[[ $gid == "$user" ]] && gid=$uid
# As the image's own user, so files only root could read would fail here as they would in the container.
in_image() {
  chroot --userspec="$uid:$gid" "$mnt" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp NODE_ENV=production \
    /bin/sh -c 'cd /app && exec "$@"' sh "$@"
}

help=$(in_image /usr/bin/node /app/dist/edge/cli/main.js --help 2>&1) || die "customs-edge --help failed inside the image:
$help"
printf '%s\n' "$help"
[[ $help == *customs-edge* && $help == *health* ]] || die "customs-edge --help inside the image does not describe the run/health commands"

# Every production dependency must load: this catches platform binaries (sharp's @img/*, onnxruntime's .so) left out.
# The @vladmandic packages only carry detector weights (they are not imported): the camera detector itself is loaded
# and run on a frame below instead.
deps=$(node -e 'console.log(Object.keys(require("./package.json").dependencies || {}).filter((d) => !d.startsWith("@vladmandic/")).join(" "))')
# shellcheck disable=SC2016
load_out=$(in_image /usr/bin/node --input-type=module -e '
  const failed = [];
  for (const d of process.argv.slice(1)) { try { await import(d); } catch (e) { failed.push(`${d}: ${String(e.message).split("\n")[0]}`); } }
  if (failed.length) { console.error(failed.join("\n")); process.exit(1); }
  console.log(`${process.argv.length - 1} production dependencies load`);
' $deps 2>&1) || die "production dependencies do not load inside the image:
$load_out"
log "$load_out"

# The camera node's default detector, from the weights the image carries (TFJS-wasm route: the image has no converter).
# shellcheck disable=SC2016
det_out=$(in_image /usr/bin/node --input-type=module -e '
  const { loadCameraDetector } = await import("/app/dist/edge/vision/detectors.js");
  const det = await loadCameraDetector({});
  const boxes = await det.detect({ data: new Uint8Array(320 * 240 * 3).fill(128), width: 320, height: 240, channels: 3 });
  console.log(`camera detector ${det.name}@${det.version} runs (${boxes.length} boxes on a grey frame)`);
  await det.close();
' 2>&1) || die "the camera detector does not load inside the image:
$det_out"
log "$det_out"

# Dev-only packages (dev: true in the lockfile, transitive ones included) must not be in the image.
present=$(node -e '
  const fs = require("fs");
  const lock = require("./package-lock.json");
  const root = process.argv[1] + "/app/";
  const found = Object.entries(lock.packages).filter(([p, v]) => p && v.dev && fs.existsSync(root + p)).map(([p]) => p);
  console.log(found.slice(0, 10).join(" "));
' "$mnt")
[[ -z $present ]] || die "devDependencies found in /app/node_modules: $present"
for p in tap typescript tsx; do [[ ! -e $mnt/app/node_modules/$p ]] || die "devDependency $p is in /app/node_modules"; done
log "no devDependencies in /app/node_modules"

owner=$(stat -c '%u' "$mnt/var/lib/customs/outbox")
[[ $owner == "$uid" ]] || die "/var/lib/customs/outbox belongs to uid $owner, not the image user $uid"

# --- smoke run: the image's runtime, as its user, against a throwaway broker on loopback ---
# chroot shares this machine's network, so the runtime reaches a Mosquitto started here; the config and outbox go
# into the container's own writable layer, which is removed with it.
smoke() {
  if ! command -v mosquitto >/dev/null || ! command -v mosquitto_sub >/dev/null; then
    log "skipping the smoke run: mosquitto and mosquitto_sub (mosquitto-clients) are not installed"
    return 0
  fi
  [[ -n $mnt && -d $mnt/app ]] || die "internal: the image is not mounted"
  work=$(mktemp -d)
  local port out got rc
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' "$port" >"$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
  mq_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  cat >"$mnt/etc/customs/edge.yaml" <<EOF
node: smoke-01
site: build
role: vehicle
broker: { url: "mqtt://127.0.0.1:$port" }
outbox: { dir: /var/lib/customs/outbox }
health: { heartbeat_s: 1 }
pipelines:
  - { name: sim, type: synthetic, options: { rate_hz: 5 } }
EOF
  local cli=(/usr/bin/node /app/dist/edge/cli/main.js)
  if out=$(in_image "${cli[@]}" health --config /etc/customs/edge.yaml 2>&1); then
    die "health reported healthy before the runtime ran: $out"
  fi
  log "health before start (must fail): ${out%%$'\n'*}"
  # Node reads /proc for system metrics; a container runtime would provide it, chroot does not.
  mount -t proc proc "$mnt/proc"
  proc_ok=1
  chroot --userspec="$uid:$gid" "$mnt" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp NODE_ENV=production LOG_LEVEL=warn \
    "${cli[@]}" run --config /etc/customs/edge.yaml >"$work/run.log" 2>&1 &
  run_pid=$!
  got=$(mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -t 'customs/v1/build/smoke-01/+' -v -C 3 -W 30 2>&1) ||
    die "no summaries from the runtime inside the image within 30 s:
$got
runtime log:
$(tail -n 20 "$work/run.log")"
  log "the runtime published: $(printf '%s\n' "$got" | cut -c1-90 | tr '\n' '|')"
  # Let a heartbeat land, then the HEALTHCHECK command must pass.
  sleep 2
  out=$(in_image "${cli[@]}" health --config /etc/customs/edge.yaml 2>&1) || die "health failed while the runtime was running: $out"
  log "health while running: $out"
  kill -TERM "$run_pid"
  rc=0
  wait "$run_pid" || rc=$?
  run_pid=
  [[ $rc == 0 ]] || die "the runtime exited $rc on SIGTERM:
$(tail -n 20 "$work/run.log")"
  log "the runtime stopped cleanly on SIGTERM"
  umount "$mnt/proc"
  proc_ok=0
  kill "$mq_pid" 2>/dev/null
  wait "$mq_pid" 2>/dev/null || true
  mq_pid=
}
smoke

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "OK: $IMAGE ($((size / 1024 / 1024)) MiB)"
