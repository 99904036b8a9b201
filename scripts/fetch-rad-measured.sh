#!/usr/bin/env bash
# Extracts the real measured spectra of bench/rad-measured.manifest.json from local git mirrors into RAD_MEASURED_DIR.
#
# The spectra are public files of other projects (licences in docs/measured-spectra.md); none is committed here.
# Each repository must be mirrored first as a bare git directory at $RAD_MIRRORS/<owner>+<name>/repo (in this
# workplace the `fetch` tool puts them under /work/.mirror; elsewhere `git clone --mirror
# https://github.com/<owner>/<name> $RAD_MIRRORS/<owner>+<name>/repo` does the same). Files are taken at the commit
# the manifest names, so the labels keep matching the data. A repository or commit that is missing is reported and
# skipped; the bench then lists the files it could not find.
#
# usage: scripts/fetch-rad-measured.sh            (RAD_MEASURED_DIR default /tmp/rad-measured, RAD_MIRRORS /work/.mirror)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${RAD_MEASURED_DIR:-/tmp/rad-measured}"
mirrors="${RAD_MIRRORS:-/work/.mirror}"
mkdir -p "$out"
ok=0
missing=0
# One line per file: repo<TAB>commit<TAB>path<TAB>file (paths may hold spaces, never tabs).
while IFS=$'\t' read -r repo commit path file; do
  git_dir="$mirrors/${repo/\//+}/repo"
  dest="$out/$file"
  if [ ! -d "$git_dir" ]; then
    echo "missing mirror: $git_dir (for $file)" >&2
    missing=$((missing + 1))
    continue
  fi
  mkdir -p "$(dirname "$dest")"
  if git --git-dir="$git_dir" show "$commit:$path" >"$dest.tmp" 2>/dev/null; then
    mv "$dest.tmp" "$dest"
    ok=$((ok + 1))
  else
    rm -f "$dest.tmp"
    echo "not in $repo at $commit: $path" >&2
    missing=$((missing + 1))
  fi
done < <(node -e '
  const m = require(process.argv[1]);
  for (const f of m.files) process.stdout.write([f.repo, f.commit ?? m.repos[f.repo].commit, f.path, f.file].join("\t") + "\n");
' "$here/bench/rad-measured.manifest.json")
echo "rad-measured: $ok files in $out, $missing missing"
