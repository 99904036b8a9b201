// Identification on real measured spectra (public files of other projects, bench/rad-measured.manifest.json): top-1 per detector type and category, false SNM calls, calls on backgrounds.
//
// Each file goes through `customs-edge rad identify --json` itself, in this process: the CLI's commander program
// is built with registerRadCommands and its stdout captured, so the detector choice, the calibration from peaks, the
// background handling and the identifier are exactly what an officer gets. The files are not in the repository:
// scripts/fetch-rad-measured.sh extracts them into RAD_MEASURED_DIR (default /tmp/rad-measured); a missing file is
// listed and skipped. Scoring: top-1 is right when the first nuclide reported is one of the file's `truth` nuclides;
// on a background file it is right when nothing is reported. A false SNM call is an SNM nuclide reported on a file
// whose truth holds none (no file here holds SNM).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerRadCommands } from '../edge/cli/rad.js';

interface ManifestFile {
  file: string;
  repo: string;
  path: string;
  detector: string;
  instrument: string;
  category: string;
  truth: string[];
  background?: boolean;
  /** A background the file's author measured for it (another manifest file): passed as `--background`. */
  backgroundFile?: string;
  scored?: boolean;
  what: string;
}

interface Manifest {
  repos: Record<string, { commit: string; licence: string }>;
  files: ManifestFile[];
}

interface CliAnswer {
  nuclides: { nuclide: string; category: string; confidence: number }[];
  detector: { model: string; reason: string };
}

export interface MeasuredRow {
  file: string;
  detector: string;
  category: string;
  truth: string[];
  background: boolean;
  scored: boolean;
  /** Undefined when the CLI refused the file (error in `error`). */
  answer?: CliAnswer;
  warnings: string[];
  error?: string;
  top1?: boolean;
  falseSnm: boolean;
}

export interface MeasuredResult {
  dir: string;
  missing: string[];
  rows: MeasuredRow[];
}

const MANIFEST = fileURLToPath(new URL('./rad-measured.manifest.json', import.meta.url));

/** Runs `rad identify --json <file>` in-process and returns its parsed stdout and what it wrote to stderr. */
async function cliIdentify(file: string, background?: string): Promise<{ answer?: CliAnswer; stderr: string; error?: string }> {
  const program = new Command();
  program.exitOverride();
  registerRadCommands(program);
  let out = '';
  let err = '';
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((out += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((err += String(chunk)), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(['rad', 'identify', file, '--json', ...(background !== undefined ? ['--background', background] : [])], { from: 'user' });
    return { answer: JSON.parse(out) as CliAnswer, stderr: err };
  } catch (e) {
    return { stderr: err, error: (e as Error).message };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}

/** Identifies every manifest file found in `dir` and scores it. */
export async function evaluateMeasured(dir = process.env.RAD_MEASURED_DIR ?? '/tmp/rad-measured', match?: string): Promise<MeasuredResult> {
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
  const missing: string[] = [];
  const rows: MeasuredRow[] = [];
  for (const f of manifest.files) {
    if (match !== undefined && !f.file.includes(match)) continue;
    const path = join(dir, f.file);
    if (!existsSync(path)) {
      missing.push(f.file);
      continue;
    }
    const r = await cliIdentify(path, f.backgroundFile !== undefined ? join(dir, f.backgroundFile) : undefined);
    const background = f.background === true;
    const scored = f.scored !== false;
    const ids = r.answer?.nuclides.map((n) => n.nuclide) ?? [];
    const top = ids[0];
    const top1 = !scored || r.answer === undefined ? undefined : background ? ids.length === 0 : top !== undefined && f.truth.includes(top);
    // Natural uranium (glaze, ore) lists U-235 among its nuclides but is NORM: only an SNM file may get an SNM call.
    const truthHasSnm = f.category === 'SNM';
    rows.push({
      file: f.file,
      detector: f.detector,
      category: f.category,
      truth: f.truth,
      background,
      scored,
      ...(r.answer ? { answer: r.answer } : {}),
      warnings: r.stderr.split('\n').filter((l) => l.trim() !== '').map((l) => l.replace(/^warning: /, '')),
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(top1 !== undefined ? { top1 } : {}),
      falseSnm: !truthHasSnm && (r.answer?.nuclides.some((n) => n.category === 'SNM') ?? false),
    });
  }
  return { dir, missing, rows };
}

function rate(rows: readonly MeasuredRow[]): string {
  const s = rows.filter((r) => r.top1 !== undefined);
  if (s.length === 0) return 'n/a';
  const ok = s.filter((r) => r.top1).length;
  return `${ok}/${s.length} (${((100 * ok) / s.length).toFixed(0)} %)`;
}

export async function benchRadMeasured(opts: { quick: boolean; match?: string }, report: (name: string, value: string) => void): Promise<void> {
  const r = await evaluateMeasured(undefined, opts.match);
  const manifestCount = r.rows.length + r.missing.length;
  if (r.missing.length) {
    report('measured spectra missing (run scripts/fetch-rad-measured.sh)', `${r.missing.length} of ${manifestCount}: ${r.missing.join(', ')}`);
  }
  if (r.rows.length === 0) return;
  report(`measured spectra read from ${r.dir}`, `${r.rows.length} files, ${r.rows.filter((x) => x.error !== undefined).length} refused by rad identify`);
  report('measured top-1, all scored files', rate(r.rows));
  for (const det of [...new Set(r.rows.map((x) => x.detector))].sort()) report(`measured top-1, ${det}`, rate(r.rows.filter((x) => x.detector === det)));
  for (const cat of [...new Set(r.rows.map((x) => x.category))].sort()) {
    if (cat === 'unlabelled') continue;
    report(`measured top-1, ${cat}`, rate(r.rows.filter((x) => x.category === cat)));
  }
  report('measured false SNM calls (files)', `${r.rows.filter((x) => x.falseSnm).length} of ${r.rows.filter((x) => x.answer).length}`);
  // Top-1 says nothing about what is listed after it: files (sources, scored) with a nuclide outside their truth.
  // Natural chains count as extra only where the truth lists none (a source measured over a room background shows them).
  const NATURAL = new Set(['K40', 'Ra226', 'Th232', 'Th228', 'U238', 'U235']);
  const sources = r.rows.filter((x) => x.scored && !x.background && x.answer);
  const extra = sources.filter((x) => x.answer!.nuclides.some((n) => !x.truth.includes(n.nuclide) && !(NATURAL.has(n.nuclide) && x.truth.some((t) => NATURAL.has(t)))));
  report('measured source files with a nuclide outside their truth', `${extra.length} of ${sources.length}`);
  // A NORM material is answered right in kind when its first nuclide is NORM (K-40, a natural chain, natural uranium).
  const norm = r.rows.filter((x) => x.category === 'NORM' && x.answer);
  report('measured NORM files whose first nuclide is NORM', `${norm.filter((x) => x.answer?.nuclides[0]?.category === 'NORM').length} of ${norm.length}`);
  const bgs = r.rows.filter((x) => x.background && x.answer);
  report('measured backgrounds with nuclide calls', `${bgs.filter((x) => (x.answer?.nuclides.length ?? 0) > 0).length} of ${bgs.length}`);
  report('measured files calibrated from their peaks', `${r.rows.filter((x) => x.warnings.some((w) => /calibrated from the spectrum's peaks/.test(w))).length}`);
  process.stdout.write('\nfile | detector (model chosen) | truth | reported (top first) | top-1\n');
  for (const x of r.rows) {
    const said = x.error !== undefined ? `refused: ${x.error.slice(0, 80)}` : (x.answer?.nuclides ?? []).map((n) => `${n.nuclide}${n.category === 'SNM' ? '(SNM)' : ''}`).join(' ') || '-';
    const verdict = x.top1 === undefined ? 'not scored' : x.top1 ? 'ok' : 'WRONG';
    process.stdout.write(`${x.file} | ${x.detector} (${x.answer?.detector.model ?? '?'}) | ${x.background ? 'background' : x.truth.join('/') || x.category} | ${said} | ${verdict}\n`);
  }
}

// `npx tsx bench/rad-measured.ts [--json] [--match <part of a file name>]`: this section alone (or some of its files).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--match');
  const match = at > 0 ? process.argv[at + 1] : undefined;
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(await evaluateMeasured(undefined, match), null, 2)}\n`);
  else await benchRadMeasured({ quick: false, ...(match !== undefined ? { match } : {}) }, (name, value) => process.stdout.write(`${name.padEnd(64)} ${value}\n`));
}
