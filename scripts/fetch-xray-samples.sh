#!/usr/bin/env bash
# Fetches the public X-ray scans docs/xray-real-inputs.md evaluates the input side on, into a folder outside the
# project (default /tmp/xray-samples), and writes the format variants a scanner could also have exported.
# Evaluation only: none of these files is committed, trained on or tuned on (see the doc for origin and licence).
# SIXray is held out and not fetched.
#
#   scripts/fetch-xray-samples.sh [out-dir]                 # from GitHub (raw.githubusercontent.com, pinned commits)
#   XRAY_SAMPLES_MIRROR=/work/.mirror scripts/fetch-xray-samples.sh   # from local bare mirrors <owner>+<name>/repo
#   scripts/fetch-xray-samples.sh --inspect [out-dir]       # then run `customs-edge xray inspect` on every file
set -euo pipefail

inspect=0
if [[ "${1:-}" == "--inspect" ]]; then
  inspect=1
  shift
fi
out="${1:-/tmp/xray-samples}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"

# repo  commit  path-in-repo  local-name
SAMPLES=(
  "LemonCANDY42/OPIXray e9093a87545b05e14253908e0c297ed45debc9f5 images/DYAJJ_20220727_V19_p_train_conveyor_belt_13_16560.jpg opixray-fork-conveyor.jpg"
  "dlsaavedra/Detector_GDXray a491aeeb1dd85a6742b4a594554524cef4119366 images/B0046_0004.png gdxray-B0046_0004.png"
  "dlsaavedra/Detector_GDXray a491aeeb1dd85a6742b4a594554524cef4119366 images/Bolso4_5_100_5_0.png gdxray-superimposed-Bolso4_5_100_5_0.png"
  "OPIXray-author/OPIXray a3d37ffdee0a8711655416fc724ba258e6b5ec5e images/samples.png opixray-samples-figure.png"
  "HiXray-author/HiXray fc766a0e34f14bb1954d8acdd414cc732583b7e0 images/samples.png hixray-samples-figure.png"
  "lutao2021/PIDray 2acc52493804422b492c04159a7ac65c6a7ee4c2 docs/image_samples.png pidray-image_samples-figure.png"
  "lutao2021/PIDray 2acc52493804422b492c04159a7ac65c6a7ee4c2 docs/easy_hard_hidden.jpg pidray-easy_hard_hidden-figure.jpg"
)

for s in "${SAMPLES[@]}"; do
  read -r repo commit path name <<<"$s"
  dest="$out/$name"
  if [[ -n "${XRAY_SAMPLES_MIRROR:-}" ]]; then
    git --git-dir "$XRAY_SAMPLES_MIRROR/${repo/\//+}/repo" show "$commit:$path" >"$dest.tmp" 2>/dev/null ||
      git --git-dir "$XRAY_SAMPLES_MIRROR/${repo/\//+}/repo" show "HEAD:$path" >"$dest.tmp"
  else
    curl -fsSL "https://raw.githubusercontent.com/$repo/$commit/$path" -o "$dest.tmp"
  fi
  mv "$dest.tmp" "$dest"
  echo "$name  <- $repo@${commit:0:7}:$path  ($(wc -c <"$dest") bytes)"
done

# The same real pixels in the other formats scanners export: a BMP of the pseudo-colour JPEG, a 16-bit PNG and an
# 8-bit JPEG of the grey GDXray scan; and the broken files a share sees (0 bytes, a JPEG cut in half).
cat >"$out/.variants.mts" <<EOF
import { readFileSync, writeFileSync } from 'node:fs';
import { readScanFrames, encodePng16, encodeRgbJpeg } from '$root/edge/xray/image-io.ts';
import { encodeBmp } from '$root/edge/xray/bmp.ts';
const out = '$out';
const [c] = await readScanFrames(out + '/opixray-fork-conveyor.jpg');
if (c?.kind === 'colour') writeFileSync(out + '/opixray-fork-conveyor.bmp', encodeBmp(c.rgb, c.width, c.height));
const [g] = await readScanFrames(out + '/gdxray-B0046_0004.png');
if (g?.kind === 'grey') {
  writeFileSync(out + '/gdxray-B0046_0004-16bit.png', await encodePng16(g.image));
  const rgb = new Uint8Array(g.image.data.length * 3);
  for (let i = 0; i < g.image.data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g.image.data[i]! >> 8;
  writeFileSync(out + '/gdxray-B0046_0004-grey.jpg', await encodeRgbJpeg(rgb, g.image.width, g.image.height, 85));
}
const j = readFileSync(out + '/opixray-fork-conveyor.jpg');
writeFileSync(out + '/broken-truncated.jpg', j.subarray(0, j.length >> 1));
writeFileSync(out + '/broken-empty.jpg', Buffer.alloc(0));
EOF
(cd "$root" && npx tsx "$out/.variants.mts")
rm -f "$out/.variants.mts"
echo "variants: opixray-fork-conveyor.bmp, gdxray-B0046_0004-16bit.png, gdxray-B0046_0004-grey.jpg, broken-truncated.jpg, broken-empty.jpg"

if [[ $inspect == 1 ]]; then
  # Exit status 0 clear, 3 review, 4 inspect; anything else would be an error (none expected).
  for f in "$out"/*.{jpg,png,bmp}; do
    [[ -e "$f" ]] || continue
    set +e
    text=$(cd "$root" && npx tsx edge/cli/main.ts xray inspect "$f" 2>&1)
    code=$?
    set -e
    echo "exit $code  $(basename "$f")"
    printf '%s\n' "$text" | grep -E '^(scan|  reason|materials)' | sed 's/^/    /'

  done
fi
