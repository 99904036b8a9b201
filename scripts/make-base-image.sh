#!/usr/bin/env bash
# Builds the local base image for the edge image (no registry here): Debian bookworm minbase from this machine's apt mirror plus this machine's Node.js and npm.
#
# Usage: scripts/make-base-image.sh [--force]
# Env:   BASE_IMAGE (default localhost/customs-node-base:bookworm), DEBIAN_MIRROR (default: read from apt sources),
#        XDG_CACHE_HOME (the debootstrap root is cached as a tarball under $XDG_CACHE_HOME/customs).
set -euo pipefail

IMAGE=${BASE_IMAGE:-localhost/customs-node-base:bookworm}
SUITE=bookworm
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/customs
FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h | --help)
      sed -n '2,7p' "$0"
      exit 0
      ;;
    *)
      echo "make-base-image: unknown argument '$a' (expected --force or --help)" >&2
      exit 2
      ;;
  esac
done

log() { printf '[make-base-image] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Tools come from Debian's packages; apt-get update once, and only when something is missing.
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# debootstrap verifies the Release file against this keyring (only a recommendation of the package).
[[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "need ${missing[*]} and cannot apt-get install them as uid $(id -u); install them or run as root"
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi

if [[ $FORCE == 0 ]] && podman image exists "$IMAGE"; then
  log "$IMAGE already exists (use --force to rebuild)"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "debootstrap and chroot need root (uid is $(id -u))"

# The mirror is whatever this machine's apt uses, because no other host is reachable from here.
mirror_from_sources() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [[ -r $f ]]; then
    # deb822: the URIs of the first stanza whose Suites include the plain suite (not -security/-updates).
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uris != "" && hit) { print uris; exit } uris=""; hit=0; next }
      /^URIs:/ { uris=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit=1 }
      END { if (uris != "" && hit) print uris }
    ' "$f" | head -n1
    return
  fi
  if [[ -r /etc/apt/sources.list ]]; then
    awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
  fi
}
MIRROR=${DEBIAN_MIRROR:-$(mirror_from_sources)}
[[ -n $MIRROR ]] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set DEBIAN_MIRROR"

ARCH=$(dpkg --print-architecture)
mkdir -p "$CACHE_DIR"
ROOTFS_TAR=$CACHE_DIR/debian-$SUITE-minbase-$ARCH.tar
WORK=$(mktemp -d "${TMPDIR:-/tmp}/customs-base.XXXXXX")
ROOT=$WORK/root
cleanup() {
  # A failed chroot step can leave /proc mounted inside the root; unmount before deleting so rm never walks into it.
  mountpoint -q "$ROOT/proc" 2>/dev/null && umount "$ROOT/proc"
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -s $ROOTFS_TAR ]]; then
  log "reusing cached root $ROOTFS_TAR"
  mkdir -p "$ROOT"
  tar -C "$ROOT" -xpf "$ROOTFS_TAR"
else
  log "debootstrap $SUITE (minbase, $ARCH) from $MIRROR"
  keyring=()
  [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  if ! debootstrap --variant=minbase "${keyring[@]}" --arch="$ARCH" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [[ -r $ROOT/debootstrap/debootstrap.log ]] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  # The same sources as this machine (security suite included) so later apt-get calls in image builds work.
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/debian.sources"
    rm -f "$ROOT/etc/apt/sources.list"
  fi
  log "applying $SUITE-security and -updates"
  mount -t proc proc "$ROOT/proc"
  if ! chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -qq && apt-get upgrade -y -qq' >"$WORK/upgrade.log" 2>&1; then
    umount "$ROOT/proc"
    tail -n 30 "$WORK/upgrade.log" >&2
    die "apt-get upgrade inside the new root failed (log above)"
  fi
  umount "$ROOT/proc"
  # Package lists, downloaded .debs and docs are dead weight in an image.
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
    "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/var/log/*.log "$ROOT"/debootstrap
  tar -C "$ROOT" -cpf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  log "cached root in $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
fi

# Node.js is this machine's own build (no download possible); npm lives beside it under <prefix>/lib/node_modules/npm.
NODE_BIN=$(readlink -f "$(command -v node)") || die "node not found on PATH"
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
NPM_DIR=$NODE_PREFIX/lib/node_modules/npm
[[ -r $NPM_DIR/bin/npm-cli.js ]] || die "npm not found at $NPM_DIR (expected beside $NODE_BIN)"
install -m 0755 "$NODE_BIN" "$ROOT/usr/bin/node"
mkdir -p "$ROOT/usr/lib/node_modules"
rm -rf "$ROOT/usr/lib/node_modules/npm"
cp -a "$NPM_DIR" "$ROOT/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/bin/npx"

node_v=$(chroot "$ROOT" /usr/bin/node --version) || die "node does not run inside the new root (missing shared library? see: ldd $NODE_BIN)"
npm_v=$(chroot "$ROOT" /usr/bin/env HOME=/tmp /usr/bin/npm --version 2>/dev/null) || die "npm does not run inside the new root"
log "node $node_v, npm $npm_v run inside the root"

log "importing as $IMAGE"
tar -C "$ROOT" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/usr/bin/node"]' \
  --message "debian $SUITE minbase + node $node_v + npm $npm_v" \
  --quiet - "$IMAGE" >/dev/null || die "podman import of $IMAGE failed"
log "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
