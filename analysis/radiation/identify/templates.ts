// Detector-response templates of the library nuclides (bare and behind shields, with shield downscatter) and of the background, on a spectrum's channels.
//
// Templates are built once per detector on a fine linear energy grid with dose.ts responseSpectrum and then
// rebinned onto the channel edges the spectrum's calibration gives (times a trial gain factor), so one set serves
// any channel count, offset, non-linearity or small gain error: rebinning is a difference of the cumulative sum
// interpolated at the edges, a few microseconds per template. Each template is normalised to a sum of 1 over the
// fine grid, so a fitted amplitude is the number of counts the component put into the detector.

import { DENSITY_g_cm3, ELECTRON_REST_keV, type Material, comptonMuRho_cm2_g, kleinNishinaPerElectron_cm2, mu_cm } from '../attenuation.js';
import { type DetectorModel, type ResolutionSmear, type Shield, photopeakEfficiency, resolutionSmear, responseSpectrum } from '../dose.js';
import { type GammaLine, getNuclide } from '../nuclides.js';
import { naturalBackgroundRate, naturalField, type SoilConcentrations } from '../sim/natural.js';
import { calibrationProblem } from '../formats/values.js';
import { channelEdges } from '../calibration.js';
import type { EnergyCalibration } from '../spectrum.js';
import { CustomsError } from '../../../common/errors.js';

/** A spectrum's calibration cannot be used (all zero, not increasing channel to channel). */
export class CalibrationError extends CustomsError {
  constructor(message: string) {
    super('E_CALIBRATION', message);
  }
}

/** A shielding configuration a nuclide is looked for behind. */
export interface ShieldVariant {
  /** Short id reported with a result, e.g. 'steel-2cm'. */
  id: string;
  layers: readonly Shield[];
}

/**
 * Default set: bare; steel 1, 2, 5 and 10 cm (vehicle body, container wall, drum, thick machinery); lead 0.5, 1
 * and 2 cm (transport pigs and containers); 10 and 30 cm of water (organic cargo, a patient after a medical
 * procedure: low-Z shielding attenuates the low lines much less than steel of the same areal density). Line
 * ratios change strongly behind them (Ba-133 or Eu-152 lose their low lines, Ra-226 its 186/295/352 keV against
 * 609/1764), so a bare template alone leaves residuals that forward selection would fill with other nuclides.
 * Thicknesses in between are covered by the fit mixing two variants of one nuclide (see identify.ts).
 */
export const DEFAULT_SHIELD_VARIANTS: readonly ShieldVariant[] = [
  { id: 'none', layers: [] },
  { id: 'steel-1cm', layers: [{ material: 'steel', thickness_cm: 1 }] },
  { id: 'steel-2cm', layers: [{ material: 'steel', thickness_cm: 2 }] },
  { id: 'steel-5cm', layers: [{ material: 'steel', thickness_cm: 5 }] },
  { id: 'steel-10cm', layers: [{ material: 'steel', thickness_cm: 10 }] },
  { id: 'lead-0.5cm', layers: [{ material: 'lead', thickness_cm: 0.5 }] },
  { id: 'lead-1cm', layers: [{ material: 'lead', thickness_cm: 1 }] },
  { id: 'lead-2cm', layers: [{ material: 'lead', thickness_cm: 2 }] },
  { id: 'water-10cm', layers: [{ material: 'water', thickness_cm: 10 }] },
  { id: 'water-30cm', layers: [{ material: 'water', thickness_cm: 30 }] },
];

/** The nChannels + 1 channel edges (keV) of a usable calibration; throws CalibrationError naming what is wrong. */
export function checkedChannelEdges(cal: EnergyCalibration, nChannels: number): Float64Array {
  const problem = calibrationProblem(cal, nChannels);
  if (problem !== undefined) throw new CalibrationError(`energy calibration: ${problem}`);
  const edges = channelEdges(cal, nChannels);
  for (let ch = 1; ch <= nChannels; ch++) {
    if (!(edges[ch] > edges[ch - 1])) {
      throw new CalibrationError(
        `energy calibration: the deviation pairs put channel ${ch} (${edges[ch]} keV) not above channel ${ch - 1} (${edges[ch - 1]} keV)`,
      );
    }
  }
  return edges;
}

/** One fitted component over the fit channels; values are zero outside [lo, hi). */
export interface Column {
  values: Float64Array;
  lo: number;
  hi: number;
}

export function makeColumn(values: Float64Array): Column {
  let lo = 0;
  while (lo < values.length && values[lo] === 0) lo++;
  let hi = values.length;
  while (hi > lo && values[hi - 1] === 0) hi--;
  return { values, lo, hi };
}

/** Template of one nuclide behind one shield variant, on the fine grid. */
export interface FineTemplate {
  nuclide: string;
  variant: string;
  /** Detected counts per channel of the fine grid, sum 1. */
  lines: Float64Array;
  /** Downscatter in the shield (sum 1); absent for the bare variant or when the shield scatters nothing visible. */
  downscatter?: Float64Array;
  /** Detected counts of this variant per decay relative to the bare source (the shield's overall transmission). */
  relativeYield: number;
  /** The (up to) four lines with the most full-energy-peak counts, strongest first, with their share of those. */
  mainLines: { energy_keV: number; share: number }[];
}

export interface TemplateSetOptions {
  detector: DetectorModel;
  /** Nuclide ids to build (default: every library nuclide). */
  nuclides: readonly string[];
  shielding: readonly ShieldVariant[];
  /** Top of the fine grid (keV); channels above it are not fitted. */
  maxEnergy_keV: number;
  /** Fine grid bin (keV). */
  fineWidth_keV: number;
  /** Air crossed by every source (m); low lines lose a little over a few metres. */
  airPath_m: number;
  /** Natural background composition for the modelled background. */
  soil: SoilConcentrations;
  /** A variant whose detected yield is below this fraction of the bare one is dropped (nothing gets through). */
  minRelativeYield: number;
}

// Downscatter is carried on log-spaced photon energies whose responses are computed once; a bin is ~3 % wide,
// well below the NaI resolution (7 % at 662 keV, more below), so the continuum is smooth in the detector.
const SCATTER_MIN_keV = 30;
const SCATTER_BINS_PER_DECADE = 80;
const SCATTER_ANGLES = 48;

/**
 * A separately scaled part of the background (fine grid, sum 1). Why several: a real background is never the
 * modelled one in shape. Soils differ in K:U:Th by factors of 2-3, a shielded detector sees lead x-rays, and the
 * room, vehicle and cosmic rays add continuum and scatter humps the soil model lacks. With one fixed-shape
 * background those differences were filled with nuclides (Tc-99m in the 100-150 keV scatter hump, Lu-177 in
 * the backscatter peak, Tl-201 at the lead x-rays): every real background came back with a nuclide list.
 */
export interface BackgroundPart {
  id: 'natural' | 'K40' | 'U238' | 'Th232' | 'natural-scatter' | 'lead-xray' | `continuum-${number}` | `hump-${number}`;
  values: Float64Array;
  /** Share of the natural model background (the chains at the configured soil); 0 for the extra shapes. */
  naturalShare: number;
}

// Continuum shapes: e^(−E/s), smooth and monotone, so they absorb the overall slope (cosmic continuum, scatter in
// the surroundings, another detector's Compton shape) but cannot make a peak. Humps: Gaussians 30 % wide in
// energy, three to five times wider than a NaI peak there, for the environmental scatter and backscatter humps.
const CONTINUUM_SCALES_keV = [60, 200, 800];
const HUMP_CENTRES_keV = [90, 150, 230];
const HUMP_WIDTH = 0.3;
// Lead K x-rays (keV, relative intensity): fluorescence of the lead around a shielded detector.
const LEAD_XRAYS: readonly [number, number][] = [
  [72.8, 0.28],
  [75.0, 0.47],
  [84.9, 0.17],
  [87.3, 0.05],
];

/** Everything built for one detector on the fine grid. */
export class FineTemplateSet {
  readonly fineWidth_keV: number;
  readonly nFine: number;
  readonly templates: FineTemplate[];
  readonly background: Float64Array;
  readonly backgroundParts: BackgroundPart[];
  readonly detector: DetectorModel;
  private readonly responses = new Map<number, Response>();
  private readonly mus = new Map<Material, Map<number, number>>();
  private readonly scatterTables = new Map<readonly GammaLine[], ScatterTable>();
  private readonly peakEfficiencies = new Map<number, number>();
  private smear: ResolutionSmear | undefined;

  constructor(readonly opts: TemplateSetOptions) {
    this.detector = opts.detector;
    this.fineWidth_keV = opts.fineWidth_keV;
    this.nFine = Math.ceil(opts.maxEnergy_keV / opts.fineWidth_keV);
    const bg = naturalBackgroundRate(opts.detector, { ...opts.soil, nChannels: this.nFine, keVPerChannel: this.fineWidth_keV });
    let bgTotal = 0;
    for (const v of bg) bgTotal += v;
    this.background = normalise(bg);
    this.backgroundParts = this.buildBackgroundParts(opts, bgTotal);
    this.templates = [];
    for (const id of opts.nuclides) {
      const nuc = getNuclide(id);
      const bare = this.build(nuc.name, nuc.lines, { id: 'none', layers: [] });
      for (const v of opts.shielding) {
        const t = v.layers.length === 0 ? bare : this.build(nuc.name, nuc.lines, v);
        if (t === undefined || bare === undefined) continue;
        const relativeYield = t.yield / bare.yield;
        if (relativeYield < opts.minRelativeYield) continue;
        this.templates.push({ ...t.template, variant: v.id, relativeYield });
      }
    }
  }

  private buildBackgroundParts(opts: TemplateSetOptions, bgTotal: number): BackgroundPart[] {
    const parts: BackgroundPart[] = [{ id: 'natural', values: Float64Array.from(this.background), naturalShare: 1 }];
    const grid = { nChannels: this.nFine, keVPerChannel: this.fineWidth_keV };
    const zero = { K_pct: 0, U_ppm: 0, Th_ppm: 0 };
    const chains = [
      ['K40', { ...opts.soil, ...zero, K_pct: opts.soil.K_pct ?? 2 }],
      ['U238', { ...opts.soil, ...zero, U_ppm: opts.soil.U_ppm ?? 2.5 }],
      ['Th232', { ...opts.soil, ...zero, Th_ppm: opts.soil.Th_ppm ?? 9 }],
    ] as const;
    // Each chain by its uncollided lines only, and the soil's scattered continuum as one more part: the
    // model's scatter share suits an open field, not a lab or a portal's shielded housing, and with it inside
    // each chain a real background's chains fitted at zero (their low-energy scatter overshot the data).
    const top = this.nFine * this.fineWidth_keV;
    const fold = (lines: readonly { energy_keV: number; fluenceRate_cm2_s: number }[]): Float64Array => {
      const v = new Float64Array(this.nFine);
      for (const l of lines) {
        if (!(l.energy_keV >= 10 && l.energy_keV < top) || !(l.fluenceRate_cm2_s > 0)) continue;
        addScaled(v, this.response(l.energy_keV), l.fluenceRate_cm2_s);
      }
      return v;
    };
    let scatterTotal = 0;
    const scatter = new Float64Array(this.nFine);
    for (const [id, soil] of chains) {
      const total = naturalBackgroundRate(opts.detector, { ...soil, ...grid });
      let t = 0;
      for (const x of total) t += x;
      const field = naturalField(soil);
      const v = fold(field.lines);
      let u = 0;
      for (const x of v) u += x;
      // The folded lines are in arbitrary units (fluence × response); the scatter is what the total holds beyond them.
      const k = u > 0 ? t * (1 - field.bySeries[id].scattered_cm2_s / Math.max(1e-30, field.bySeries[id].scattered_cm2_s + field.bySeries[id].uncollided_cm2_s)) / u : 0;
      for (let i = 0; i < v.length; i++) scatter[i] += Math.max(0, total[i] - k * v[i]);
      scatterTotal += Math.max(0, t - k * u);
      if (u > 0) parts.push({ id, values: normalise(v), naturalShare: bgTotal > 0 ? (k * u) / bgTotal : 0 });
    }
    if (scatterTotal > 0) parts.push({ id: 'natural-scatter', values: normalise(scatter), naturalShare: bgTotal > 0 ? scatterTotal / bgTotal : 0 });
    const w = this.fineWidth_keV;
    const xr = new Float64Array(this.nFine);
    for (const [E, f] of LEAD_XRAYS) {
      addScaled(xr, this.response(E), f);
    }
    parts.push({ id: 'lead-xray', values: normalise(xr), naturalShare: 0 });
    for (const s of CONTINUUM_SCALES_keV) {
      const v = new Float64Array(this.nFine);
      for (let i = 0; i < v.length; i++) {
        const E = (i + 0.5) * w;
        v[i] = E < 20 ? 0 : Math.exp(-E / s);
      }
      parts.push({ id: `continuum-${s}`, values: normalise(v), naturalShare: 0 });
    }
    for (const c of HUMP_CENTRES_keV) {
      const v = new Float64Array(this.nFine);
      const sd = HUMP_WIDTH * c;
      for (let i = 0; i < v.length; i++) {
        const E = (i + 0.5) * w;
        v[i] = Math.exp(-0.5 * ((E - c) / sd) ** 2);
      }
      parts.push({ id: `hump-${c}`, values: normalise(v), naturalShare: 0 });
    }
    return parts;
  }

  /**
   * The detector's response to one photon energy on the fine grid, kept: lines recur across shield variants and the
   * downscatter bins across nuclides. The continuum smear is precomputed once per set (dose.ts resolutionSmear).
   */
  private response(E_keV: number): Response {
    let r = this.responses.get(E_keV);
    if (r === undefined) {
      this.smear ??= resolutionSmear(this.detector, this.nFine, this.fineWidth_keV);
      const values = responseSpectrum(this.detector, E_keV, this.nFine, this.fineWidth_keV, { smear: this.smear });
      let hi = values.length;
      while (hi > 0 && values[hi - 1] === 0) hi--;
      r = { values, hi };
      this.responses.set(E_keV, r);
    }
    return r;
  }

  /** mu_cm memoised: the shield variants of one nuclide ask for the same material at the same scattered energies. */
  private mu(material: Material, E_keV: number): number {
    let byE = this.mus.get(material);
    if (byE === undefined) this.mus.set(material, (byE = new Map()));
    let m = byE.get(E_keV);
    if (m === undefined) {
      m = mu_cm(material, E_keV);
      byE.set(E_keV, m);
    }
    return m;
  }

  private build(
    nuclide: string,
    lines: readonly GammaLine[],
    variant: ShieldVariant,
  ): { template: Omit<FineTemplate, 'relativeYield'>; yield: number } | undefined {
    const top = this.nFine * this.fineWidth_keV;
    const spec = new Float64Array(this.nFine);
    const peaks: { energy_keV: number; w: number }[] = [];
    const airCm = this.opts.airPath_m * 100;
    for (const l of lines) {
      if (l.energy_keV < 10 || l.energy_keV >= top) continue;
      let mfp = this.mu('air', l.energy_keV) * airCm;
      for (const s of variant.layers) mfp += this.mu(s.material, l.energy_keV) * s.thickness_cm;
      const w = l.intensity * Math.exp(-mfp);
      if (!(w > 0)) continue;
      addScaled(spec, this.response(l.energy_keV), w);
      let eff = this.peakEfficiencies.get(l.energy_keV);
      if (eff === undefined) this.peakEfficiencies.set(l.energy_keV, (eff = photopeakEfficiency(this.detector, l.energy_keV)));
      peaks.push({ energy_keV: l.energy_keV, w: w * eff });
    }
    const total = spec.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return undefined;
    const peakSum = peaks.reduce((a, p) => a + p.w, 0);
    const mainLines = peaks
      .sort((a, b) => b.w - a.w)
      .slice(0, 4)
      .map((p) => ({ energy_keV: p.energy_keV, share: p.w / peakSum }));
    let downscatter: Float64Array | undefined;
    if (variant.layers.length > 0) {
      const ds = this.downscatter(lines, variant.layers);
      if (ds !== undefined) downscatter = normalise(ds);
    }
    return {
      template: { nuclide, variant: variant.id, lines: normalise(spec), downscatter, mainLines },
      yield: total,
    };
  }

  /**
   * Photons scattered once in the shield on their way out, folded through the detector response. Model: the
   * source sits behind a slab; a photon of energy E reaches depth x (e^(−μ(E)x)), Compton-scatters through θ
   * (Klein–Nishina, forward half-space), leaves with E' = E/(1 + (E/mc²)(1 − cos θ)) through the remaining
   * (t − x)/cos θ (e^(−μ(E')(t−x)/cos θ)). Only the shape is used (its amplitude is fitted), so the geometry
   * factor of how much scattered fluence reaches the detector is left out; what matters is that steel leaves a
   * broad continuum from ~100 keV up to the line while lead swallows everything scattered below ~300 keV.
   */
  private downscatter(lines: readonly GammaLine[], layers: readonly Shield[]): Float64Array | undefined {
    const top = this.nFine * this.fineWidth_keV;
    const lnMin = Math.log(SCATTER_MIN_keV);
    const nBins = Math.ceil(((Math.log(top) - lnMin) / Math.LN10) * SCATTER_BINS_PER_DECADE);
    const binE = (i: number): number => Math.exp(lnMin + (i * Math.LN10) / SCATTER_BINS_PER_DECADE);
    const flux = new Float64Array(nBins);
    const nDepth = 8;
    const tab = this.scatterTable(lines);
    for (let q = 0; q < tab.lines.length; q++) {
      const l = tab.lines[q];
      const E = l.energy_keV;
      const sigma = tab.sigma[q];
      for (let li = 0; li < layers.length; li++) {
        const layer = layers[li];
        if (!(layer.thickness_cm > 0)) continue;
        // Attenuation of the line before this layer and of the scattered photon after it.
        let before = this.mu('air', E) * this.opts.airPath_m * 50;
        for (let j = 0; j < li; j++) before += this.mu(layers[j].material, E) * layers[j].thickness_cm;
        const muE = this.mu(layer.material, E);
        const muC = comptonMuRho_cm2_g(layer.material, E) * DENSITY_g_cm3[layer.material];
        const t = layer.thickness_cm;
        const muLayer = this.scatterMu(tab, layer.material);
        const muAir = this.scatterMu(tab, 'air');
        for (let a = 0; a < SCATTER_ANGLES; a++) {
          const at = q * SCATTER_ANGLES + a;
          const Es = tab.Es[at];
          if (Es < SCATTER_MIN_keV) continue;
          const c = tab.cos[at];
          let after = muAir[at] * this.opts.airPath_m * 50;
          for (let j = li + 1; j < layers.length; j++) after += this.scatterMu(tab, layers[j].material)[at] * layers[j].thickness_cm;
          const muS = muLayer[at];
          let depth = 0;
          for (let d = 0; d < nDepth; d++) {
            const x = ((d + 0.5) / nDepth) * t;
            depth += Math.exp(-muE * x - (muS * (t - x)) / c) * (t / nDepth);
          }
          const w = l.intensity * Math.exp(-before - after) * muC * depth * (tab.dsdo[at] / sigma) * tab.solid[at];
          if (!(w > 0)) continue;
          // Share between the two log bins around Es.
          const pos = ((Math.log(Es) - lnMin) / Math.LN10) * SCATTER_BINS_PER_DECADE;
          const i0 = Math.floor(pos);
          const f = pos - i0;
          if (i0 >= 0 && i0 < nBins) flux[i0] += w * (1 - f);
          if (i0 + 1 >= 0 && i0 + 1 < nBins) flux[i0 + 1] += w * f;
        }
      }
    }
    let total = 0;
    for (const v of flux) total += v;
    if (!(total > 0)) return undefined;
    const out = new Float64Array(this.nFine);
    for (let i = 0; i < nBins; i++) {
      if (flux[i] < total * 1e-6) continue;
      addScaled(out, this.response(binE(i)), flux[i]);
    }
    return out;
  }

  /**
   * The scattering geometry of a nuclide's lines (scattered energy, Klein–Nishina weight and solid angle per angle),
   * the same for every shield variant: computed once per line list instead of once per variant.
   */
  private scatterTable(lines: readonly GammaLine[]): ScatterTable {
    let tab = this.scatterTables.get(lines);
    if (tab !== undefined) return tab;
    const top = this.nFine * this.fineWidth_keV;
    const used = lines.filter((l) => !(l.energy_keV < SCATTER_MIN_keV || l.energy_keV >= top));
    const n = used.length * SCATTER_ANGLES;
    tab = { lines: used, sigma: new Float64Array(used.length), Es: new Float64Array(n), cos: new Float64Array(n), dsdo: new Float64Array(n), solid: new Float64Array(n), mu: new Map() };
    for (let q = 0; q < used.length; q++) {
      const E = used[q].energy_keV;
      const k = E / ELECTRON_REST_keV;
      tab.sigma[q] = kleinNishinaPerElectron_cm2(E);
      for (let a = 0; a < SCATTER_ANGLES; a++) {
        // Forward half-space up to 80°: beyond, the path out of a slab grows without bound.
        const theta = ((a + 0.5) / SCATTER_ANGLES) * ((80 * Math.PI) / 180);
        const c = Math.cos(theta);
        const at = q * SCATTER_ANGLES + a;
        tab.cos[at] = c;
        tab.Es[at] = E / (1 + k * (1 - c));
        tab.dsdo[at] = kleinNishinaDOmega(k, c);
        tab.solid[at] = 2 * Math.PI * Math.sin(theta) * ((80 * Math.PI) / 180 / SCATTER_ANGLES);
      }
    }
    this.scatterTables.set(lines, tab);
    return tab;
  }

  /** Attenuation coefficients of a material at a scatter table's energies (0 where the photon is below the grid). */
  private scatterMu(tab: ScatterTable, material: Material): Float64Array {
    let m = tab.mu.get(material);
    if (m === undefined) {
      m = new Float64Array(tab.Es.length);
      for (let i = 0; i < m.length; i++) if (tab.Es[i] >= SCATTER_MIN_keV) m[i] = mu_cm(material, tab.Es[i]);
      tab.mu.set(material, m);
    }
    return m;
  }
}

interface ScatterTable {
  lines: readonly GammaLine[];
  /** Klein–Nishina total cross-section per line. */
  sigma: Float64Array;
  /** Per line × angle (line-major): scattered energy, cos θ, dσ/dΩ and the angle bin's solid angle. */
  Es: Float64Array;
  cos: Float64Array;
  dsdo: Float64Array;
  solid: Float64Array;
  mu: Map<Material, Float64Array>;
}

/** Klein–Nishina dσ/dΩ per electron (cm²/sr) for α = E/mc² and cos θ. */
function kleinNishinaDOmega(k: number, cosTheta: number): number {
  const R_E2 = 7.9407877e-26;
  const p = 1 / (1 + k * (1 - cosTheta));
  return 0.5 * R_E2 * p * p * (p + 1 / p - (1 - cosTheta * cosTheta));
}

/** A response on the fine grid; values[hi…] are all zero (a response ends 5 σ above its line). */
interface Response {
  values: Float64Array;
  hi: number;
}

/** out += w·r over the response's non-zero range: the same sums as over the whole grid, without the zeros. */
function addScaled(out: Float64Array, r: Response, w: number): void {
  const v = r.values;
  for (let i = 0; i < r.hi; i++) out[i] += v[i] * w;
}

function normalise(a: Float64Array): Float64Array {
  let s = 0;
  for (const v of a) s += v;
  if (s > 0) for (let i = 0; i < a.length; i++) a[i] /= s;
  return a;
}

/** Cumulative sum with a leading 0: cum[j] is the content below fine edge j. */
export function cumulative(a: Float64Array): Float64Array {
  const c = new Float64Array(a.length + 1);
  for (let i = 0; i < a.length; i++) c[i + 1] = c[i] + a[i];
  return c;
}

/**
 * Rebin a fine-grid template (as its cumulative sum) onto channels [first, last) whose edges are `edges` (keV),
 * scaled by `gain`. Linear interpolation of the cumulative sum is exact where channel edges fall on fine edges
 * and otherwise spreads a fine bin evenly, which at a fine bin of a third of a channel is far below the noise.
 */
export function rebin(cum: Float64Array, fineWidth_keV: number, edges: Float64Array, first: number, last: number, gain: number): Float64Array {
  const n = last - first;
  const out = new Float64Array(n);
  const nFine = cum.length - 1;
  const at = (E: number): number => {
    const x = E / fineWidth_keV;
    if (x <= 0) return 0;
    if (x >= nFine) return cum[nFine];
    const j = Math.floor(x);
    const f = x - j;
    return cum[j] + f * (cum[j + 1] - cum[j]);
  };
  let prev = at(edges[first] * gain);
  for (let i = 0; i < n; i++) {
    const next = at(edges[first + i + 1] * gain);
    out[i] = next - prev;
    prev = next;
  }
  // Round-off leaves ±1e-17 where the template is empty; clean zeros keep the column ranges tight.
  for (let i = 0; i < n; i++) if (Math.abs(out[i]) < 1e-14) out[i] = 0;
  return out;
}
