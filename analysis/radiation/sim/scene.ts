// A radiation scene (point sources, shielding, natural background) seen by moving detectors: expected rates and Poisson-sampled spectra with dead time and gain drift.
//
// Geometry: local tangent plane at `scene.origin`, x east, y north, z up, metres; z = 0 is the ground.
// Vehicle frame: offsets are x forward, y left, z up from the vehicle reference point; `heading_rad` is the
// direction of travel counterclockwise from east (0 = driving east, π/2 = driving north), so the world
// position of a detector is the pose plus the offset rotated by the heading.
//
// Source term (uncollided, point source): fluence rate of each line = y·A/(4πr²)·exp(−μ_air·r)·Π exp(−μ_i·t_i),
// shields crossed at normal incidence. Counts = fluence × face area × dose.ts responseSpectrum: the face-on
// approximation, i.e. the detector is taken to look at every source through its face (normal incidence) whatever
// the direction; there is no angular response and no shadowing by the vehicle or the other detectors. It
// overestimates a source seen edge-on by a box log by up to the ratio of its face to its side (4 for a 2x4x16).
// Distances below MIN_DISTANCE_m are clamped (the point-source formula diverges where the real crystal does not).
// Background: natural.ts at the detector's height (to 0.1 m).

import { CustomsError } from '../../../common/errors.js';
import { MATERIALS, type Material, mu_cm } from '../attenuation.js';
import { type DetectorModel, detectorFaceArea_cm2, responseSpectrum } from '../dose.js';
import { getNuclide } from '../nuclides.js';
import type { GeoPoint } from '../spectrum.js';
import { naturalBackgroundRate } from './natural.js';

export interface Vec3 {
  x_m: number;
  y_m: number;
  z_m: number;
}

export interface SimSource {
  /** Nuclide id of the table in nuclides.ts ('Cs137', 'Co60', 'Ra226' …). */
  nuclide: string;
  activity_Bq: number;
  position: Vec3;
  /** Slabs between source and every detector (a container wall, a lead pot), crossed at normal incidence. */
  shielding?: { material: string; thickness_cm: number }[];
}

export interface SimDetector {
  /** Detector name as written in the N42 files (radDetectorInformationReference). */
  id: string;
  model: DetectorModel;
  /** From the vehicle reference point, vehicle frame (x forward, y left, z up). */
  offset: Vec3;
  nChannels: number;
  /** Nominal linear calibration E = keVPerChannel · channel (at 20 °C). */
  keVPerChannel: number;
  /** Non-paralysable dead time per recorded event (default 0). */
  deadTime_s?: number;
  /** Relative gain change per °C around 20 °C (NaI(Tl) with its PMT is typically −0.2 to −0.4 %/°C). */
  gainDriftPerDegC?: number;
}

export interface Scene {
  sources: SimSource[];
  background: { K_pct?: number; U_ppm?: number; Th_ppm?: number };
  /** Local x east, y north, metres from here. */
  origin: { lat: number; lon: number };
}

export interface Pose {
  x_m: number;
  y_m: number;
  /** Height of the vehicle reference point above the ground (default 0). */
  z_m?: number;
  /** Direction of travel, counterclockwise from east (default 0). */
  heading_rad?: number;
}

export interface StepResult {
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  position: GeoPoint;
}

/** A scene or detector the simulator cannot use; the message names the field. */
export class SceneError extends CustomsError {
  constructor(message: string) {
    super('E_SIM_SCENE', message);
  }
}

/** Closer than this (m) a source is taken to sit at this distance. */
export const MIN_DISTANCE_m = 0.05;
/** Reference temperature of the nominal calibration. */
export const REFERENCE_TEMPERATURE_C = 20;

// ───────────────────────────── random numbers ─────────────────────────────

export { mulberry32 } from '../../../common/random.js';

const LOG_FACTORIAL_SMALL = [0, 0, 0.6931471805599453, 1.791759469228055, 3.1780538303479458, 4.787491742782046, 6.579251212010101, 8.525161361065415, 10.60460290274525, 12.801827480081469];

/** ln(k!) : table below 10, Stirling series above (error < 1e-10 there). */
function logFactorial(k: number): number {
  if (k < 10) return LOG_FACTORIAL_SMALL[k];
  const n = k + 1;
  const inv = 1 / n;
  const inv2 = inv * inv;
  return (n - 0.5) * Math.log(n) - n + 0.9189385332046728 + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/**
 * A Poisson variate of the given mean. Small means (< 10): Knuth's product of uniforms (on average mean + 1
 * draws). Larger: Hörmann's PTRS transformed rejection (1993), exact and O(1) in the mean.
 */
export function poisson(rng: () => number, mean: number): number {
  if (!(mean > 0)) {
    if (mean === 0) return 0;
    throw new RangeError(`poisson mean must be a finite number >= 0, got ${mean}`);
  }
  if (mean < 10) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = rng();
    while (p > limit) {
      k++;
      p *= rng();
    }
    return k;
  }
  if (!Number.isFinite(mean)) throw new RangeError(`poisson mean must be finite, got ${mean}`);
  const logMean = Math.log(mean);
  const b = 0.931 + 2.53 * Math.sqrt(mean);
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng() - 0.5;
    const v = rng();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -mean + k * logMean - logFactorial(k)) return k;
  }
}

// ───────────────────────────── geometry ─────────────────────────────

/** World position of a detector for a vehicle pose. */
export function detectorPosition(detector: Pick<SimDetector, 'offset'>, pose: Pose): Vec3 {
  const h = pose.heading_rad ?? 0;
  const c = Math.cos(h);
  const s = Math.sin(h);
  const o = detector.offset;
  return { x_m: pose.x_m + c * o.x_m - s * o.y_m, y_m: pose.y_m + s * o.x_m + c * o.y_m, z_m: (pose.z_m ?? 0) + o.z_m };
}

// WGS84 radii of curvature at the origin: metres per degree of latitude and longitude of the tangent plane.
const WGS84_A = 6378137;
const WGS84_E2 = 6.69437999014e-3;

function metresPerDegree(lat: number): { lat: number; lon: number } {
  const phi = (lat * Math.PI) / 180;
  const w = 1 - WGS84_E2 * Math.sin(phi) ** 2;
  const M = (WGS84_A * (1 - WGS84_E2)) / Math.pow(w, 1.5);
  const N = WGS84_A / Math.sqrt(w);
  return { lat: (M * Math.PI) / 180, lon: (N * Math.cos(phi) * Math.PI) / 180 };
}

/** Local (x east, y north, z up) to WGS84; z becomes elevation_m (height above the local ground). Good to ~1 cm within 1 km. */
export function localToGeo(origin: { lat: number; lon: number }, p: Vec3): GeoPoint {
  const m = metresPerDegree(origin.lat);
  return { lat: origin.lat + p.y_m / m.lat, lon: origin.lon + p.x_m / m.lon, elevation_m: p.z_m };
}

/** The inverse of localToGeo. */
export function geoToLocal(origin: { lat: number; lon: number }, g: GeoPoint): Vec3 {
  const m = metresPerDegree(origin.lat);
  return { x_m: (g.lon - origin.lon) * m.lon, y_m: (g.lat - origin.lat) * m.lat, z_m: g.elevation_m ?? 0 };
}

// ───────────────────────────── expected rates ─────────────────────────────

function checkDetector(d: SimDetector): void {
  if (!Number.isInteger(d.nChannels) || d.nChannels <= 0 || d.nChannels > 65536) {
    throw new SceneError(`detector "${d.id}": nChannels must be an integer in 1..65536, got ${d.nChannels}`);
  }
  if (!(d.keVPerChannel > 0) || !Number.isFinite(d.keVPerChannel)) {
    throw new SceneError(`detector "${d.id}": keVPerChannel must be a finite number > 0, got ${d.keVPerChannel}`);
  }
  if (d.deadTime_s !== undefined && !(d.deadTime_s >= 0 && d.deadTime_s < 1)) {
    throw new SceneError(`detector "${d.id}": deadTime_s must be in [0, 1) s, got ${d.deadTime_s}`);
  }
  if (d.gainDriftPerDegC !== undefined && !(Math.abs(d.gainDriftPerDegC) < 0.1)) {
    throw new SceneError(`detector "${d.id}": gainDriftPerDegC must be a relative change per °C below 0.1 in size, got ${d.gainDriftPerDegC}`);
  }
}

function shieldMaterial(source: SimSource, i: number, material: string): Material {
  if (!(MATERIALS as readonly string[]).includes(material)) {
    throw new SceneError(`source ${source.nuclide}: shielding[${i}].material "${material}" is not one of ${MATERIALS.join(', ')}`);
  }
  return material as Material;
}

/** Uncollided fluence rate (photons/cm²/s) of each line of a source at a point. */
export function sourceFluence(source: SimSource, at: Vec3): { energy_keV: number; fluenceRate_cm2_s: number }[] {
  if (!(source.activity_Bq >= 0) || !Number.isFinite(source.activity_Bq)) {
    throw new SceneError(`source ${source.nuclide}: activity_Bq must be a finite activity >= 0, got ${source.activity_Bq}`);
  }
  const shields = (source.shielding ?? []).map((s, i) => {
    if (!(s.thickness_cm >= 0) || !Number.isFinite(s.thickness_cm)) {
      throw new SceneError(`source ${source.nuclide}: shielding[${i}].thickness_cm must be a finite length >= 0, got ${s.thickness_cm}`);
    }
    return { material: shieldMaterial(source, i, s.material), thickness_cm: s.thickness_cm };
  });
  const dx = at.x_m - source.position.x_m;
  const dy = at.y_m - source.position.y_m;
  const dz = at.z_m - source.position.z_m;
  const r_cm = Math.max(MIN_DISTANCE_m, Math.hypot(dx, dy, dz)) * 100;
  const geometry = source.activity_Bq / (4 * Math.PI * r_cm * r_cm);
  const out: { energy_keV: number; fluenceRate_cm2_s: number }[] = [];
  for (const line of getNuclide(source.nuclide).lines) {
    if (line.energy_keV < 10) continue;
    let mfp = mu_cm('air', line.energy_keV) * r_cm;
    for (const s of shields) mfp += mu_cm(s.material, line.energy_keV) * s.thickness_cm;
    out.push({ energy_keV: line.energy_keV, fluenceRate_cm2_s: line.intensity * geometry * Math.exp(-mfp) });
  }
  return out;
}

// Per detector model and channel grid, the response (counts/s per unit fluence rate, face area included) of each
// line energy met so far: a drive asks for the same few lines thousands of times.
const RESPONSE_CACHE_MAX = 32;
const responseCache = new Map<string, Map<number, Float64Array>>();

function lineResponses(det: SimDetector): Map<number, Float64Array> {
  const m = det.model;
  // A description (m.drf) changes the whole response: its name and resolution law are part of the key.
  const key = JSON.stringify([m.name, m.crystal, m.shape, m.fwhmAt662, m.drf?.name, m.drf?.resolution, det.nChannels, det.keVPerChannel]);
  let hit = responseCache.get(key);
  if (hit === undefined) {
    hit = new Map();
    responseCache.set(key, hit);
    if (responseCache.size > RESPONSE_CACHE_MAX) {
      const oldest = responseCache.keys().next().value;
      if (oldest !== undefined) responseCache.delete(oldest);
    }
  }
  return hit;
}

function lineResponse(det: SimDetector, cache: Map<number, Float64Array>, E_keV: number): Float64Array {
  let r = cache.get(E_keV);
  if (r === undefined) {
    r = responseSpectrum(det.model, E_keV, det.nChannels, det.keVPerChannel);
    const area = detectorFaceArea_cm2(det.model);
    for (let ch = 0; ch < r.length; ch++) r[ch] *= area;
    cache.set(E_keV, r);
  }
  return r;
}

/**
 * Re-bins a rate spectrum for a gain change: what the nominal grid put in channel i, [i, i+1), lands in
 * [g·i, g·(i+1)) and is shared out in proportion to the overlap with each channel, so a peak moves by the
 * fraction g − 1 without the staircase of whole-channel shifts. Counts pushed past the last channel are lost, as
 * in a real MCA.
 */
export function applyGain(rates: Float64Array, gain: number): Float64Array {
  if (!(gain > 0) || !Number.isFinite(gain)) throw new RangeError(`gain must be a finite number > 0, got ${gain}`);
  if (gain === 1) return rates.slice();
  const n = rates.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = rates[i];
    if (v === 0) continue;
    const a = gain * i;
    const b = gain * (i + 1);
    if (a >= n) break;
    const per = v / (b - a);
    let j = Math.floor(a);
    let lo = a;
    while (lo < b && j < n) {
      const hi = Math.min(b, j + 1);
      out[j] += per * (hi - lo);
      lo = hi;
      j++;
    }
  }
  return out;
}

/** The gain factor of a detector at a temperature: 1 + gainDriftPerDegC·(T − 20 °C). */
export function gainAt(detector: Pick<SimDetector, 'gainDriftPerDegC'>, temperature_C = REFERENCE_TEMPERATURE_C): number {
  return 1 + (detector.gainDriftPerDegC ?? 0) * (temperature_C - REFERENCE_TEMPERATURE_C);
}

/**
 * Expected count rate per channel (counts/s, before dead time) of a detector at `detPos`: natural background at
 * the detector's height plus every source, gain drift applied for `temperature_C` (default 20 °C: none).
 */
export function expectedRates(scene: Scene, detector: SimDetector, detPos: Vec3, temperature_C?: number): Float64Array {
  checkDetector(detector);
  const rates = naturalBackgroundRate(detector.model, {
    nChannels: detector.nChannels,
    keVPerChannel: detector.keVPerChannel,
    K_pct: scene.background.K_pct,
    U_ppm: scene.background.U_ppm,
    Th_ppm: scene.background.Th_ppm,
    // Quantised to 0.1 m: the background changes by < 1 % over that, and a vehicle that bobs up and down would
    // otherwise recompute the (cached) background spectra every step.
    height_m: Math.max(0, Math.round(detPos.z_m * 10) / 10),
  });
  const cache = lineResponses(detector);
  for (const src of scene.sources) {
    for (const line of sourceFluence(src, detPos)) {
      if (line.fluenceRate_cm2_s === 0) continue;
      const r = lineResponse(detector, cache, line.energy_keV);
      const w = line.fluenceRate_cm2_s;
      for (let ch = 0; ch < rates.length; ch++) rates[ch] += r[ch] * w;
    }
  }
  const gain = gainAt(detector, temperature_C);
  return gain === 1 ? rates : applyGain(rates, gain);
}

/**
 * One acquisition of `dt_s` by every detector at a vehicle pose: expected rates, non-paralysable dead time (true
 * rate n, recorded m = n/(1+nτ), live time = real − counts·τ), Poisson counts per channel. Deterministic for a
 * given `rng` state.
 */
export function simulateStep(
  scene: Scene,
  detectors: readonly SimDetector[],
  pose: Pose,
  dt_s: number,
  rng: () => number,
  temperature_C?: number,
): StepResult[] {
  if (!(dt_s > 0) || !Number.isFinite(dt_s)) throw new RangeError(`dt_s must be a finite time > 0, got ${dt_s}`);
  return detectors.map((det) => {
    const pos = detectorPosition(det, pose);
    const rates = expectedRates(scene, det, pos, temperature_C);
    let total = 0;
    for (let ch = 0; ch < rates.length; ch++) total += rates[ch];
    const tau = det.deadTime_s ?? 0;
    // Expected live fraction 1/(1+nτ); the counts then follow from the live time.
    const liveExpected = dt_s / (1 + total * tau);
    const counts = new Float64Array(rates.length);
    let recorded = 0;
    for (let ch = 0; ch < rates.length; ch++) {
      const mean = rates[ch] * liveExpected;
      if (mean > 0) {
        const c = poisson(rng, mean);
        counts[ch] = c;
        recorded += c;
      }
    }
    const liveTime_s = Math.max(0, dt_s - recorded * tau);
    return { detector: det.id, counts, liveTime_s, realTime_s: dt_s, position: localToGeo(scene.origin, pos) };
  });
}
