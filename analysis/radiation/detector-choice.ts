// Which of the project's detector response models fits a file's spectra, from what the file says about its detector.
//
// Identification templates are the detector's response: a 1 cm³ CsI spectrum fitted with 2x2 NaI templates turns
// Am-241 into Tl-201 and Co-60 into Eu-152. Files name their detector in many places, none of them always filled:
// N42 RadDetectorKindCode ("CsI", "NaI", "HPGe") and RadDetectorDescription, N42-2006 DetectorType ("HPGe 50%"),
// the instrument model (RadiaCode-102), SPE DETDESC#, $SPEC_REM remarks, $MCA_ID and, for writers that fill
// nothing else (Kromek's D3S exports), the $SPEC_ID title. The evidence is read strongest first: an exact project
// model name, a known instrument, then the crystal named in a kind code or in free text. The answer always says
// which words decided it, so an officer (and `rad identify --json`) can see why a response was used.

import { DETECTORS } from './dose.js';
import type { DetectorInfo, RadFile } from './spectrum.js';

/** What a parsed file says about its detector (RadFile plus the free text SPE files carry). */
export interface DetectorEvidence {
  format?: RadFile['format'];
  instrument?: RadFile['instrument'];
  detectors?: readonly DetectorInfo[];
  /** SPE $SPEC_ID, RadiaCode XML SampleInfo Name. */
  title?: string;
  /** SPE $SPEC_REM lines, RadiaCode XML SampleInfo Note. */
  remarks?: readonly string[];
  /** SPE $MCA_ID. */
  mcaId?: string;
}

export interface DetectorChoice {
  /** A key of DETECTORS (dose.ts), or the name of one of `responses` (a detector response description). */
  model: string;
  /** Which words of the file decided it, e.g. "N42 RadDetectorKindCode CsI, description 'CsI:Tl scintillator'". */
  reason: string;
  /** False when the file named nothing usable and `fallback` was taken. */
  fromFile: boolean;
}

export interface DetectorChoiceOptions {
  /** Only this detector's information is read (the spectrum's N42 detector id); default every detector. */
  detectorId?: string;
  /** Model used when the file names nothing usable (default 'NaI-2x2', the handheld default). */
  fallback?: string;
  /**
   * Names of the detector response descriptions the caller can load (devices/radiation/detector-response.ts
   * drfNames(): "HPGe_40p", "LaBr_10p", …). A crystal the project has no built-in model for (HPGe, LaBr) is mapped to
   * the description of that crystal nearest in relative efficiency to the one the file names ("HPGe 50%").
   */
  responses?: readonly string[];
}

/** Crystals with no built-in model that a description can stand for: name prefix of the descriptions. */
const DESCRIBED: Readonly<Record<string, RegExp>> = { HPGe: /^HPGe_(\d+)p$/i, LaBr: /^LaBr_(\d+)p$/i };

/**
 * The description for a crystal, nearest in relative efficiency to a "NN %" the text names (else the largest: a
 * portal or lab detector more often than not). Undefined when no description of the crystal is loadable.
 */
function describedModel(crystal: string, text: string, responses: readonly string[]): { model: string; why: string } | undefined {
  const pattern = DESCRIBED[crystal];
  if (pattern === undefined) return undefined;
  const options = responses.flatMap((name) => {
    const m = pattern.exec(name);
    return m ? [{ name, eff: Number(m[1]) }] : [];
  });
  if (options.length === 0) return undefined;
  const named = /(\d+(?:\.\d+)?)\s*%/.exec(text);
  const want = named ? Number(named[1]) : Math.max(...options.map((o) => o.eff));
  const best = options.reduce((a, b) => (Math.abs(b.eff - want) < Math.abs(a.eff - want) ? b : a));
  return { model: best.name, why: named ? `nearest description to ${named[1]} %` : 'largest description of the crystal' };
}

/**
 * Handheld instruments whose crystal the model name fixes. Facts from the makers' data sheets: RadiaCode-101/102/103
 * 10x10x10 mm CsI(Tl) (103G: GAGG, no model here), RadiaCode-110 the same 1 cm³ CsI(Tl) in a new case; Kromek D3S
 * gamma channel CsI(Tl). Only crystals the project has
 * a response for are mapped; the others (Kromek GR1: CZT) fall through to the crystal words.
 */
const INSTRUMENTS: readonly { pattern: RegExp; model: string; what: string }[] = [
  { pattern: /\bradia ?code[- ]?10[123]\b(?!g)/i, model: 'CsI-1cm3', what: 'RadiaCode-10x: 1 cm³ CsI(Tl)' },
  { pattern: /\bradia ?code[- ]?110\b/i, model: 'CsI-1cm3', what: 'RadiaCode-110: 1 cm³ CsI(Tl)' },
  { pattern: /\bd3s\b/i, model: 'CsI-1cm3', what: 'Kromek D3S: CsI(Tl)' },
];

/** Crystals named in kind codes or free text; `model` undefined where the project has no response for it. */
const CRYSTALS: readonly { pattern: RegExp; crystal: string; model?: (text: string) => string }[] = [
  { pattern: /\bcsi\b/i, crystal: 'CsI', model: () => 'CsI-1cm3' },
  { pattern: /\bnai\b/i, crystal: 'NaI', model: naiSize },
  { pattern: /\bhpge\b|\bgermanium\b|\bge\(?li\)?\b/i, crystal: 'HPGe' },
  { pattern: /\blabr3?\b|lanthanum bromide/i, crystal: 'LaBr' },
  { pattern: /\bczt\b|\bcdznte\b/i, crystal: 'CZT' },
  { pattern: /\bgagg\b/i, crystal: 'GAGG' },
  { pattern: /\bbgo\b/i, crystal: 'BGO' },
  { pattern: /\bpvt\b|plastic/i, crystal: 'PVT' },
];

/** NaI size from the text: 3x3 and 2x4x16 inch (or their millimetre forms) named, else the 2x2 default. */
function naiSize(text: string): string {
  const t = text.toLowerCase().replace(/["”″]|in(ch(es)?)?\b/g, '').replace(/\s+/g, '');
  if (/2x4x16|4x16|4x4x16|50x100x400|51x102x406/.test(t)) return 'NaI-2x4x16';
  if (/3x3|76x76|75x75/.test(t)) return 'NaI-3x3';
  return 'NaI-2x2';
}

/**
 * The project's detector model for a file's spectra, and why. Pure: the caller passes the parsed file (an
 * SpeFile's title, remarks and $MCA_ID are read too) and gets a DETECTORS key it can look up.
 */
export function chooseDetector(file: DetectorEvidence, options: DetectorChoiceOptions = {}): DetectorChoice {
  const fallback = options.fallback ?? 'NaI-2x2';
  if (DETECTORS[fallback] === undefined) throw new RangeError(`fallback: unknown detector model "${fallback}", expected one of ${Object.keys(DETECTORS).join(', ')}`);
  const isSpe = file.format === 'SPE';
  const isRadiaCode = file.format === 'RadiaCode-XML';
  const dets = (file.detectors ?? []).filter((d) => options.detectorId === undefined || d.id === options.detectorId);
  // Evidence, strongest first: [where it was found, its text].
  const fields: [string, string][] = [];
  for (const d of dets) {
    if (d.kind !== undefined) fields.push([file.format === 'N42-2006' ? 'N42 DetectorType' : 'N42 RadDetectorKindCode', d.kind]);
    if (d.description !== undefined) fields.push(['N42 RadDetectorDescription', d.description]);
    // An SPE's detector id is its DETDESC# ("detector" when there is none).
    if (isSpe && d.id !== 'detector') fields.push(['SPE DETDESC#', d.id]);
    // A CSV's detector id is its `# detector:` comment ("csv" when there is none).
    if (file.format === 'CSV' && d.id !== 'csv') fields.push(['CSV # detector', d.id]);
  }
  if (file.instrument?.model !== undefined) fields.push([isSpe ? 'instrument model' : isRadiaCode ? 'RadiaCode XML DeviceConfigReference' : 'N42 RadInstrumentModelName', file.instrument.model]);
  if (file.mcaId !== undefined) fields.push(['SPE $MCA_ID', file.mcaId]);
  for (const r of file.remarks ?? []) if (!/^(DET|DETDESC)#/.test(r)) fields.push([isRadiaCode ? 'RadiaCode XML SampleInfo Note' : 'SPE $SPEC_REM', r]);
  if (file.title !== undefined) fields.push([isRadiaCode ? 'RadiaCode XML SampleInfo Name' : 'SPE $SPEC_ID', file.title]);
  if (file.instrument?.manufacturer !== undefined) fields.push(['instrument manufacturer', file.instrument.manufacturer]);

  const said = (i: number): string => `${fields[i][0]} ${quoteShort(fields[i][1])}`;
  // 1. A project model named as such (files this project writes: "NaI-2x2 (simulated)").
  for (let i = 0; i < fields.length; i++) {
    const exact = Object.keys(DETECTORS).find((k) => new RegExp(`(^|[^\\w-])${k.replace(/[-]/g, '\\-')}([^\\w-]|$)`, 'i').test(fields[i][1]));
    if (exact !== undefined) return { model: exact, reason: `${said(i)} names the model`, fromFile: true };
  }
  // 2. A known instrument.
  for (let i = 0; i < fields.length; i++) {
    const known = INSTRUMENTS.find((k) => k.pattern.test(fields[i][1]));
    if (known !== undefined) {
      const crystal = fields.findIndex((f) => /kind|type/i.test(f[0]));
      return { model: known.model, reason: `${crystal >= 0 ? `${said(crystal)}, ` : ''}${said(i)} (${known.what})`, fromFile: true };
    }
  }
  // 3. The crystal, from a kind code first, then free text; the NaI size from every field.
  const unmodelled: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const c = CRYSTALS.find((k) => k.pattern.test(fields[i][1]));
    if (c === undefined) continue;
    if (c.model === undefined) {
      const described = describedModel(c.crystal, fields.map((f) => f[1]).join(' '), options.responses ?? []);
      if (described !== undefined) return { model: described.model, reason: `${said(i)} → ${described.model} (${c.crystal}: ${described.why})`, fromFile: true };
      unmodelled.push(`${said(i)} (${c.crystal}: no response model)`);
      continue;
    }
    // The size may be in another field than the crystal ("NaI" as kind code, "2x4x16 inch log" as description).
    const model = c.model(fields.map((f) => f[1]).join(' '));
    const also = fields.findIndex((f, j) => j !== i && f[0] === 'N42 RadDetectorDescription');
    return { model, reason: `${said(i)}${also >= 0 ? `, description ${quoteShort(fields[also][1])}` : ''} → ${model}`, fromFile: true };
  }
  if (unmodelled.length > 0) {
    return { model: fallback, reason: `${unmodelled[0]}; using the default ${fallback}, expect poorer identification`, fromFile: false };
  }
  return { model: fallback, reason: `the file names no detector kind or known instrument; default ${fallback}`, fromFile: false };
}

function quoteShort(s: string): string {
  const t = s.trim();
  return `'${t.length > 60 ? `${t.slice(0, 60)}…` : t}'`;
}
