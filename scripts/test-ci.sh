#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian/Ubuntu machine (as root, or with sudo), then runs the whole suite:
# type check, unit and integration tests (real Mosquitto and InfluxDB on loopback), and the edge image build.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo
pkgs=(mosquitto mosquitto-clients influxdb influxdb-client libxml2-utils openssl
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  podman debootstrap socat python3-onnx python3-numpy)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "[test-ci] installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages may start system services on their default ports; they are left alone: the tests start their own
# Mosquitto and InfluxDB on free loopback ports, with their own data folders.

# onnxruntime-node ships its CPU build; its install script would try to download another.
export ONNXRUNTIME_NODE_INSTALL=skip
echo "[test-ci] npm ci"
npm ci --no-audit --no-fund
echo "[test-ci] camera detector converted to ONNX (models/camera-coco/README.md; the TFJS route is the fallback)"
bash scripts/convert-models.sh
echo "[test-ci] type check"
npm run typecheck
echo "[test-ci] tests"
npm test
echo "[test-ci] edge image"
bash scripts/build-image.sh
echo "[test-ci] all green"
