#!/usr/bin/env bash
# Extracts the real measured spectra of bench/rad-measured.manifest.json from local git mirrors into RAD_MEASURED_DIR.
#
# The spectra are public files of other projects (licences in docs/measured-spectra.md); none is committed here.
# Each file is taken at the commit the manifest names, so the labels keep matching the data, from the first of:
#   1. a bare git mirror at $RAD_MIRRORS/<owner>+<name>/repo (in this workplace the `fetch` tool puts them under
#      /work/.mirror; elsewhere `git clone --mirror https://github.com/<owner>/<name> $RAD_MIRRORS/<owner>+<name>/repo`);
#   2. a plain copy at $RAD_FILE_COPIES/<owner>+<name>/<commit>/<path> (for repositories no mirror was made of);
#   3. with RAD_DOWNLOAD=1, https://raw.githubusercontent.com/<owner>/<name>/<commit>/<path> (curl).
# A file whose manifest entry has a `sha256` must match it (the hash of the original file, before step 4).
# 4. A file with `prepend` gets those lines put before its first line: facts its own header holds in a form the
#    reader does not take (a RadiaCode CSV export's "# MeasurementTime,532" → "# live time: 532").
# A repository, commit or file that is missing is reported and skipped; the bench then lists what it could not find.
#
# usage: scripts/fetch-rad-measured.sh   (RAD_MEASURED_DIR default /tmp/rad-measured, RAD_MIRRORS /work/.mirror,
#                                          RAD_FILE_COPIES /tmp/rad-measured-copies)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${RAD_MEASURED_DIR:-/tmp/rad-measured}"
mirrors="${RAD_MIRRORS:-/work/.mirror}"
copies="${RAD_FILE_COPIES:-/tmp/rad-measured-copies}"
mkdir -p "$out"
ok=0
missing=0
# One line per file: repo<TAB>commit<TAB>path<TAB>file<TAB>sha256<TAB>prepend (\n-joined; paths may hold spaces, never tabs).
while IFS=$'\t' read -r repo commit path file sha prepend; do
  git_dir="$mirrors/${repo/\//+}/repo"
  copy="$copies/${repo/\//+}/$commit/$path"
  dest="$out/$file"
  mkdir -p "$(dirname "$dest")"
  got=""
  if [ -d "$git_dir" ] && git --git-dir="$git_dir" show "$commit:$path" >"$dest.tmp" 2>/dev/null; then
    got="mirror"
  elif [ -f "$copy" ]; then
    cp "$copy" "$dest.tmp" && got="copy"
  elif [ "${RAD_DOWNLOAD:-0}" = "1" ] && curl -fsSL "https://raw.githubusercontent.com/$repo/$commit/${path// /%20}" -o "$dest.tmp"; then
    got="download"
  fi
  if [ -z "$got" ]; then
    rm -f "$dest.tmp"
    echo "missing: $file ($repo at $commit: $path; no mirror at $git_dir, no copy at $copy)" >&2
    missing=$((missing + 1))
    continue
  fi
  if [ -n "$sha" ] && [ "$(sha256sum "$dest.tmp" | cut -d' ' -f1)" != "$sha" ]; then
    rm -f "$dest.tmp"
    echo "sha256 mismatch: $file (from $got; expected $sha)" >&2
    missing=$((missing + 1))
    continue
  fi
  if [ -n "$prepend" ]; then
    { printf '%b\n' "$prepend"; cat "$dest.tmp"; } >"$dest.tmp2" && mv "$dest.tmp2" "$dest.tmp"
  fi
  mv "$dest.tmp" "$dest"
  ok=$((ok + 1))
done < <(node -e '
  const m = require(process.argv[1]);
  for (const f of m.files) process.stdout.write([f.repo, f.commit ?? m.repos[f.repo].commit, f.path, f.file, f.sha256 ?? "", (f.prepend ?? []).join("\\n")].join("\t") + "\n");
' "$here/bench/rad-measured.manifest.json")
echo "rad-measured: $ok files in $out, $missing missing"
