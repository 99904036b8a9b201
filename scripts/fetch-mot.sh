#!/usr/bin/env bash
# Extracts public MOTChallenge material for the camera evaluation from local git mirrors into $MOT_DIR/<sequence>/.
#
# Nothing of it is committed here; origins and licences are in docs/camera-evaluation.md. For each sequence:
#   gt/gt.txt        ground truth (MOTChallenge 2D MOT 2015, CC BY-NC-SA 3.0), as py-motmetrics ships it for its tests
#   det/det.txt      public Faster R-CNN detections that the SORT repository ships for MOT15 train sequences
#   ref/py-motmetrics-test.txt   a tracker result py-motmetrics scores in its own tests (cross-check of our metrics)
#   seqinfo.ini      frame count, size and rate of the sequence (MOTChallenge's values, written here)
#   MOT17-02-mini, MOT17-04-mini: the first 4 / 8 frames (img1/), gt and seqinfo.ini of MOT17-02 and MOT17-04
#                    (MOTChallenge MOT17, CC BY-NC-SA 3.0), as boxmot's assets/MOT17-mini carries them for its CI
#                    (taken from a copy of boxmot, zzyyww66/boxmot_demo2: boxmot's own snapshot is over the size limit)
# No repository in the mirrors holds more frames of an allowed static-camera sequence; where you have them (from
# motchallenge.net, under its licence), put them in $MOT_DIR/<sequence>/img1/ and `camera analyze` reads them.
# Files are taken at pinned commits and checked against their sha256, so the numbers in the docs stay reproducible.
#
# Mirrors: a bare git mirror at $MOT_MIRRORS/<owner>+<name>/repo (the workplace `fetch` tool puts them under
# /work/.mirror; elsewhere `git clone --mirror https://github.com/<owner>/<name> $MOT_MIRRORS/<owner>+<name>/repo`).
#
# usage: scripts/fetch-mot.sh     (MOT_DIR default /tmp/mot, MOT_MIRRORS default /work/.mirror)
set -euo pipefail
out="${MOT_DIR:-/tmp/mot}"
mirrors="${MOT_MIRRORS:-/work/.mirror}"
ok=0
missing=0

# repo<TAB>commit<TAB>path<TAB>destination<TAB>sha256
files=$(cat <<'EOF'
jvlmdr/py-motmetrics	90aa1afda2b5d5c0ee6662cb5f6dc9708b10154f	motmetrics/data/TUD-Campus/gt.txt	TUD-Campus/gt/gt.txt	6ea5c56dffa72db2d286bf3c4593465583bfe43e9ecaa110001ccce2c4d10e39
jvlmdr/py-motmetrics	90aa1afda2b5d5c0ee6662cb5f6dc9708b10154f	motmetrics/data/TUD-Campus/test.txt	TUD-Campus/ref/py-motmetrics-test.txt	51a461e9aa7513a45b3e6abb67ffab139380114d94606bbfe1e3c7b7b5a3860b
jvlmdr/py-motmetrics	90aa1afda2b5d5c0ee6662cb5f6dc9708b10154f	motmetrics/data/TUD-Stadtmitte/gt.txt	TUD-Stadtmitte/gt/gt.txt	009b3ef8df68c963fd8104350083fd6bc9798b6b435858b99dbd1385cfbde873
jvlmdr/py-motmetrics	90aa1afda2b5d5c0ee6662cb5f6dc9708b10154f	motmetrics/data/TUD-Stadtmitte/test.txt	TUD-Stadtmitte/ref/py-motmetrics-test.txt	436a44a82972ffed43c79642a8c350653e770c21257ad1af1a621eb2a07d9f2d
abewley/sort	6e093f5be1b626555610b948c586c2f5afbe70bf	data/train/TUD-Campus/det/det.txt	TUD-Campus/det/det.txt	99ab27c988173b6b6fc7b9f1dcc5320e8dc94223cf3cce293682b906c065979e
abewley/sort	6e093f5be1b626555610b948c586c2f5afbe70bf	data/train/TUD-Stadtmitte/det/det.txt	TUD-Stadtmitte/det/det.txt	945b906548a09b0b5f7a39befe11f96860b0a92dca25d6df813ec73e1246f473
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/gt/gt.txt	MOT17-02-mini/gt/gt.txt	7a0fa89361fa792a3d4654aec0a50de75c41b114d21897b9a6ccda14f22da4e3
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/img1/000001.jpg	MOT17-02-mini/img1/000001.jpg	41ff65408c5338f4a83035fd12e9f5f7b658ee82feacf4512655677032636597
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/img1/000002.jpg	MOT17-02-mini/img1/000002.jpg	9312a3137c9a12524d381d85c693ed39b67374fc1872eb6b1e5a91d66e73e6ea
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/img1/000003.jpg	MOT17-02-mini/img1/000003.jpg	a5c373bede979b5389009136380f39c38cad930dcbc453dd00438154f084b012
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/img1/000004.jpg	MOT17-02-mini/img1/000004.jpg	078c220b50b3a9b94c1a4b9d916b95bdf92aa47f6b249d0988bc091ceb690c80
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-02-FRCNN/seqinfo.ini	MOT17-02-mini/seqinfo.ini	f1a49690513a8e7c2f1c237f5aa121e3fedb95d71065fac2348ef532dfa432d7
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/gt/gt.txt	MOT17-04-mini/gt/gt.txt	5bed3a5b28ff3df1cd81e73497622ebc5dafa031c6095c86809a2da910b0daba
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000001.jpg	MOT17-04-mini/img1/000001.jpg	53f3d86aad1aa4912b2919bae344919b54d193e72c1c7169ce8bc4685408053c
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000002.jpg	MOT17-04-mini/img1/000002.jpg	1c6c088869ef03477a73f4d4cb90de430a456bff028734f6afe69af128a71a8b
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000003.jpg	MOT17-04-mini/img1/000003.jpg	edc451e430b1f77d2ab5d1b10d5c7fc5f5ab3bee1391391da49b8602fe84d481
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000004.jpg	MOT17-04-mini/img1/000004.jpg	1f32f99af0396a999f5ee6e28b2c6b7236647fd945ea82df63a3e672d45774b4
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000005.jpg	MOT17-04-mini/img1/000005.jpg	a98f21491ff16bb92d3da2bb8ac26a02c1516c9843e1171ca7f30239f43af91a
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000006.jpg	MOT17-04-mini/img1/000006.jpg	2b177ccd455003a70cdad36709c7bcb8dd0cfbb7fa15df937cca7ffbaea3b03f
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000007.jpg	MOT17-04-mini/img1/000007.jpg	b5d8ce71a6910d8303c24263e6b18f575aafcc38555f70e57b68e3956f6a9cfd
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/img1/000008.jpg	MOT17-04-mini/img1/000008.jpg	7965767d179adbbea6ec3695089f8822c1f86e649ef3c5c1c0347558099d132d
zzyyww66/boxmot_demo2	c101fd6534d43019e6e717515b83e641b2da4a83	assets/MOT17-mini/train/MOT17-04-FRCNN/seqinfo.ini	MOT17-04-mini/seqinfo.ini	31d317ebdfcfd0c394cf87b52896441597af4fa44f2c8916c1a8c1eff16eee11
EOF
)

while IFS=$'\t' read -r repo commit path dest sha; do
  git_dir="$mirrors/${repo/\//+}/repo"
  [ -d "$git_dir/.git" ] && git_dir="$git_dir/.git"
  target="$out/$dest"
  mkdir -p "$(dirname "$target")"
  if [ -d "$git_dir" ] && git --git-dir="$git_dir" show "$commit:$path" >"$target.tmp" 2>/dev/null; then
    got=$(sha256sum "$target.tmp" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
      echo "fetch-mot: $repo@$commit:$path has sha256 $got, expected $sha: skipped" >&2
      rm -f "$target.tmp"
      missing=$((missing + 1))
      continue
    fi
    mv "$target.tmp" "$target"
    ok=$((ok + 1))
  else
    rm -f "$target.tmp"
    echo "fetch-mot: missing $repo@$commit:$path (mirror $git_dir; fetch github:$repo first)" >&2
    missing=$((missing + 1))
  fi
done <<<"$files"

# MOTChallenge's sequence descriptions (2D MOT 2015 train): both 640x480 at 25 fps, static cameras at head height.
write_seqinfo() { # name frames
  [ -d "$out/$1" ] || return 0
  printf '[Sequence]\nname=%s\nimDir=img1\nframeRate=25\nseqLength=%s\nimWidth=640\nimHeight=480\nimExt=.jpg\n' "$1" "$2" >"$out/$1/seqinfo.ini"
}
write_seqinfo TUD-Campus 71
write_seqinfo TUD-Stadtmitte 179

echo "fetch-mot: $ok files into $out, $missing missing"
[ "$missing" -eq 0 ]
