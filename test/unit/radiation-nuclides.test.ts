// Nuclide table: required set and categories, the selection rule, physical sanity of lines and half-lives, chains and mixtures, decay.
import t from 'tap';
import {
  NUCLIDES,
  UnknownNuclideError,
  activityAt,
  decayFactor,
  getNuclide,
  nuclideIds,
  type NuclideCategory,
} from '../../analysis/radiation/nuclides.js';
import { PU241_TO_U237, REACTOR_GRADE, plutoniumMixture } from '../../analysis/radiation/nuclides/plutonium.js';
import { u232DaughtersPerU233Decay } from '../../analysis/radiation/nuclides/snm.js';

const YEAR_s = 365.2422 * 86400;
const AVOGADRO = 6.02214076e23;

const REQUIRED: Record<string, NuclideCategory> = {
  Cs137: 'industrial',
  Co60: 'industrial',
  Ir192: 'industrial',
  Se75: 'industrial',
  Am241: 'industrial',
  Ba133: 'industrial',
  Eu152: 'industrial',
  Tc99m: 'medical',
  I131: 'medical',
  I123: 'medical',
  F18: 'medical',
  Ga67: 'medical',
  Tl201: 'medical',
  In111: 'medical',
  Lu177: 'medical',
  K40: 'NORM',
  Ra226: 'NORM',
  Th232: 'NORM',
  U235: 'SNM',
  U238: 'NORM', // natural and depleted uranium: NORM (ANSI N42.34 / IEC 62327), not SNM
  Pu239: 'SNM',
  // Check and calibration sources of the ANSI N42.34 / IAEA identification lists.
  Na22: 'industrial',
  Co57: 'industrial',
  Mn54: 'industrial',
  Y88: 'industrial',
  Cd109: 'industrial',
  Eu154: 'industrial',
  Cs134: 'industrial',
  Th228: 'industrial', // also the signature of U-232
  Xe133: 'medical',
  Sm153: 'medical',
  Cr51: 'medical',
  Ga68: 'medical',
  U233: 'SNM',
  Np237: 'SNM',
  PuRG: 'SNM', // reactor-grade plutonium, one mixture entry
};

// The shipped ONNX classifier's outputs, in the order of its model card: they must stay at the head of nuclideIds().
const FIRST_LIBRARY = ['Cs137', 'Co60', 'Ir192', 'Se75', 'Am241', 'Ba133', 'Eu152', 'Tc99m', 'I131', 'I123', 'F18', 'Ga67', 'Tl201', 'In111', 'Lu177', 'K40', 'Ra226', 'Th232', 'U235', 'U238', 'Pu239'];
const CATEGORIES: readonly NuclideCategory[] = ['industrial', 'medical', 'NORM', 'SNM'];
/** Entries with no line reaching 0.5 %: they keep their strongest lines. */
const WEAK_LINE_EXCEPTIONS = new Set(['Pu239', 'U233', 'PuRG']);

function line(id: string, energy_keV: number, tol_keV = 0.05): number {
  const l = getNuclide(id).lines.find((x) => Math.abs(x.energy_keV - energy_keV) <= tol_keV);
  if (l === undefined) throw new Error(`${id} has no line at ${energy_keV} keV`);
  return l.intensity;
}

t.test('every required nuclide is present with its category', async (t) => {
  for (const [id, category] of Object.entries(REQUIRED)) {
    t.equal(getNuclide(id).category, category, `${id} is ${category}`);
  }
  t.same([...nuclideIds()].sort(), Object.keys(REQUIRED).sort(), 'no more, no fewer');
  t.equal(getNuclide('Cs-137'), NUCLIDES.Cs137, 'the label form is accepted too');
  t.equal(getNuclide('Pu-RG'), NUCLIDES.PuRG, 'the mixture has a label form too');
  t.same(nuclideIds().slice(0, FIRST_LIBRARY.length), FIRST_LIBRARY, 'the first library keeps its order (classifier outputs)');
});

t.test('entries are well formed: id/label, sorted lines, sources', async (t) => {
  for (const [key, n] of Object.entries(NUCLIDES)) {
    t.equal(n.name, key, `${key}: name is its key`);
    t.equal(n.label.replace('-', ''), n.name, `${key}: label is the id with a dash`);
    t.ok(n.halfLife_s > 0 && Number.isFinite(n.halfLife_s), `${key}: half-life positive`);
    t.ok(n.source.length > 10, `${key}: source cited`);
    t.match(n.source, /DDEP|ENSDF/, `${key}: source names the evaluation (DDEP or ENSDF)`);
    t.ok(CATEGORIES.includes(n.category), `${key}: category ${n.category}`);
    t.ok(n.lines.length > 0, `${key}: has lines`);
    for (let i = 1; i < n.lines.length; i++) {
      t.ok(n.lines[i].energy_keV >= n.lines[i - 1].energy_keV, `${key}: lines sorted by energy`);
    }
    for (const l of n.lines) {
      t.ok(l.energy_keV > 0 && l.energy_keV <= 3000, `${key} ${l.energy_keV} keV within 0-3 MeV`);
      // At most one photon per decay, except annihilation (two per positron).
      const max = l.energy_keV === 511 ? 2 : 1;
      t.ok(l.intensity > 0 && l.intensity <= max, `${key} ${l.energy_keV} keV: 0 < intensity <= ${max}`);
      if (l.emitter !== undefined) t.match(l.emitter, /^[A-Z][a-z]?-\d+m?(, [A-Z][a-z]?-\d+m?)*$/, `${key} ${l.energy_keV} keV: emitter is a label`);
    }
  }
  t.throws(() => {
    (NUCLIDES as Record<string, unknown>).Xx1 = {};
  }, 'the table is frozen');
});

t.test('selection rule: >= 30 keV and >= 0.5 %, exceptions named in the notes', async (t) => {
  for (const n of Object.values(NUCLIDES)) {
    const low = n.lines.filter((l) => l.energy_keV < 30);
    for (const l of low) {
      t.ok(l.energy_keV >= 25 && l.intensity >= 0.01, `${n.name} ${l.energy_keV} keV: below-30 keV exceptions are 25-30 keV and >= 1 %`);
    }
    if (low.length > 0) t.match(n.notes ?? '', /Exception/, `${n.name}: the low-energy exception is noted`);
    const weak = n.lines.filter((l) => l.intensity < 0.005);
    if (weak.length > 0) {
      t.ok(WEAK_LINE_EXCEPTIONS.has(n.name), `${n.name}: only ${[...WEAK_LINE_EXCEPTIONS].join(', ')} keep lines below 0.5 %`);
      t.match(n.notes ?? '', /Exception: (no|most)/, `${n.name}: the weak-line exception is noted`);
    }
  }
  t.match(getNuclide('Pu239').notes ?? '', /Exception: no Pu-239 line reaches 0.5 %/);
  const pu = getNuclide('Pu239');
  const strongest = pu.lines.reduce((a, b) => (b.intensity > a.intensity ? b : a));
  t.equal(strongest.energy_keV, 51.624, 'Pu-239: strongest kept line is 51.6 keV');
  t.ok(line('Pu239', 413.713) < 1e-4 && line('Pu239', 375.054) < 1e-4, 'Pu-239 375/414 keV are ~1.5e-5 per decay');
});

t.test('line physics: headline lines, cascades, equilibrium ratios', async (t) => {
  t.ok(Math.abs(line('Cs137', 661.657) - 0.851) < 0.002, 'Cs-137 661.657 keV ~85.1 %');
  // Co-60: a cascade, nearly every decay emits both photons.
  const co = getNuclide('Co60').lines;
  t.equal(co.length, 2);
  const coSum = co.reduce((s, l) => s + l.intensity, 0);
  t.ok(coSum > 1.99 && coSum <= 2, `Co-60 emits 2 photons per decay (${coSum})`);
  // F-18: two annihilation photons per positron, beta+ branch 96.86 %.
  t.ok(Math.abs(line('F18', 511) / (2 * 0.9686) - 1) < 0.003, 'F-18 511 keV = 2 × beta+ branch');
  // Th-232 chain: Tl-208 lines carry the 35.94 % Bi-212 alpha branch; their ratio is Tl-208's own.
  t.ok(Math.abs(line('Th232', 2614.511) - 0.3594 * 0.99755) < 1e-6, 'Tl-208 2614.5 keV = 35.94 % × 99.755 %');
  t.ok(Math.abs(line('Th232', 583.187) / line('Th232', 2614.511) - 85.0 / 99.755) < 1e-9, '583/2614 keV ratio as in Tl-208');
  t.ok(line('Th232', 911.196) > 0.25 && line('Th232', 238.632) > 0.43, 'Ac-228 911 keV and Pb-212 239 keV present');
  // Ra-226 chain in equilibrium: Bi-214 and Pb-214 lines per Ra-226 decay.
  t.ok(Math.abs(line('Ra226', 609.312) - 0.4549) < 1e-6 && line('Ra226', 1764.494) > 0.15, 'Bi-214 609 and 1764 keV');
  t.ok(Math.abs(line('Ra226', 351.932) / line('Ra226', 295.224) - 1.933) < 0.01, 'Pb-214 352/295 keV ratio ~1.93');
  t.ok(line('Ra226', 186.211) < 0.04, 'Ra-226 186 keV is weak (3.6 %)');
  // U-238 is seen through its daughters only.
  t.ok(Math.abs(line('U238', 1001.026) - 0.00847) < 1e-6, 'Pa-234m 1001 keV 0.85 %');
  t.ok(line('U238', 63.3) > 0.03, 'Th-234 63.3 keV');
  t.ok(Math.abs(line('U235', 185.72) - 0.57) < 0.003, 'U-235 185.7 keV ~57 %');
  t.ok(line('Am241', 59.5409) > 0.35 && line('Am241', 59.5409) < 0.37, 'Am-241 59.54 keV ~35.9 %');
  // X-rays: Kα1 stronger than Kα2 (about 1.7-1.9 for Z = 50-80), both below the K binding energy.
  t.ok(line('Ba133', 30.9731) / line('Ba133', 30.6254) > 1.7, 'Cs Kα1/Kα2 in Ba-133');
  t.ok(line('Tl201', 70.82) / line('Tl201', 68.895) > 1.6, 'Hg Kα1/Kα2 in Tl-201');
  // K-40: single line, about one decay in ten.
  t.ok(line('K40', 1460.822) > 0.1 && line('K40', 1460.822) < 0.11, 'K-40 1460.8 keV 10.3-10.7 %');
});

t.test('half-lives: units right (specific activities) and plausible per category', async (t) => {
  // Specific activity λ·N_A/A from the half-life, against well-known values; this catches unit slips.
  const specific = (id: string, A: number): number => ((Math.LN2 / getNuclide(id).halfLife_s) * AVOGADRO) / A;
  const known: [string, number, number][] = [
    ['Ra226', 226, 3.66e10], // the curie was 1 g of Ra-226
    ['Cs137', 137, 3.2e12],
    ['Co60', 60, 4.18e13],
    ['Am241', 241, 1.27e11],
    ['Pu239', 239, 2.3e9],
    ['U238', 238, 1.244e4],
    ['K40', 40, 2.64e5],
    ['Na22', 22, 2.31e14],
    ['Th228', 228, 3.04e13],
    ['U233', 233, 3.57e8],
    ['Np237', 237, 2.6e7],
  ];
  for (const [id, A, Bq_g] of known) {
    const s = specific(id, A);
    t.ok(Math.abs(s / Bq_g - 1) < 0.02, `${id}: ${s.toExponential(3)} Bq/g ≈ ${Bq_g.toExponential(3)}`);
  }
  for (const n of Object.values(NUCLIDES)) {
    // Cr-51 (27.7 d) is the longest-lived medical nuclide here.
    if (n.category === 'medical') t.ok(n.halfLife_s < 30 * 86400, `${n.name}: medical nuclide lives < 30 d`);
    if (n.category === 'NORM' || n.category === 'SNM') t.ok(n.halfLife_s > 1000 * YEAR_s, `${n.name}: > 1000 a`);
  }
  t.ok(getNuclide('F18').halfLife_s < getNuclide('Tc99m').halfLife_s, 'F-18 shorter than Tc-99m');
  t.ok(Math.abs(getNuclide('Tc99m').halfLife_s / 3600 - 6.0) < 0.01, 'Tc-99m ~6.0 h');
});

t.test('added nuclides: headline lines against DDEP/ENSDF', async (t) => {
  t.ok(Math.abs(line('Na22', 1274.537) - 0.9994) < 1e-6, 'Na-22 1274.5 keV 99.94 %');
  t.ok(line('Na22', 511) > 1.8 && line('Na22', 511) < 1.81, 'Na-22 511 keV: two photons per positron, beta+ 90.3 %');
  t.ok(Math.abs(line('Ga68', 511) / 2 - 0.889) < 1e-6, 'Ga-68 511 keV = 2 × beta+ 88.9 %');
  t.ok(Math.abs(line('Co57', 122.06065) - 0.8549) < 0.002 && Math.abs(line('Co57', 136.47356) - 0.1071) < 0.001, 'Co-57 122/136 keV');
  t.ok(line('Mn54', 834.848) > 0.999, 'Mn-54 834.8 keV ~100 %');
  t.ok(Math.abs(line('Y88', 1836.07) - 0.99346) < 1e-9 && Math.abs(line('Y88', 898.042) - 0.937) < 1e-9, 'Y-88 898 and 1836 keV');
  t.ok(Math.abs(line('Cd109', 88.0336) - 0.0366) < 1e-9, 'Cd-109 88.0 keV 3.66 %');
  t.ok(line('Cd109', 25.0002) > 0.15, 'Cd-109 Ag Kβ1 at 25.0 keV kept (25-30 keV exception)');
  t.ok(Math.abs(line('Cs134', 604.72) - 0.9763) < 1e-9 && Math.abs(line('Cs134', 795.86) - 0.8547) < 1e-9, 'Cs-134 604.7/795.9 keV');
  t.ok(Math.abs(line('Eu154', 123.0706) - 0.404) < 1e-9 && Math.abs(line('Eu154', 1274.429) - 0.349) < 1e-9, 'Eu-154 123.1 and 1274.4 keV');
  t.ok(Math.abs(line('Xe133', 80.9979) - 0.37) < 1e-9, 'Xe-133 81.0 keV 37.0 %');
  t.ok(Math.abs(line('Sm153', 103.18012) - 0.2919) < 1e-9, 'Sm-153 103.2 keV 29.19 %');
  t.ok(Math.abs(line('Cr51', 320.0835) - 0.0989) < 1e-9, 'Cr-51 320.1 keV 9.89 %');
  t.ok(Math.abs(line('Np237', 311.904) - 0.383) < 1e-9, 'Np-237: Pa-233 311.9 keV 38.3 % per Np-237 decay');
  t.ok(Math.abs(line('Np237', 98.44) - 0.146) < 1e-9 && Math.abs(line('Np237', 86.477) - 0.1226) < 1e-9, 'Np-237: U Kα1 of Pa-233 and its own 86.5 keV');
  t.equal(getNuclide('Np237').lines.find((l) => l.energy_keV === 311.904)?.emitter, 'Pa-233', 'the 311.9 keV line is Pa-233\'s');
  // Xe-133 and Ba-133 share the 81.0 keV level of Cs-133: same energy in both.
  t.equal(getNuclide('Xe133').lines.find((l) => l.intensity > 0.3)?.energy_keV, 80.9979);
});

t.test('chains: the Th-228 sub-chain and its 35.94 % Tl-208 branch, the Ra-226 chain', async (t) => {
  t.ok(Math.abs(line('Th228', 2614.511) - 0.3594 * 0.99755) < 1e-9, 'Th-228: Tl-208 2614.5 keV = 35.94 % × 99.755 %');
  t.ok(Math.abs(line('Th228', 583.187) - 0.3594 * 0.85) < 1e-9, 'Th-228: Tl-208 583.2 keV scaled by the branch');
  t.ok(Math.abs(line('Th228', 238.632) - 0.436) < 1e-9, 'Th-228: Pb-212 238.6 keV unscaled (100 % of decays pass Pb-212)');
  // Th-232 ore = Ac-228 lines + the Th-228 chain; the Th-228 entry is the same chain without Ac-228.
  const th232 = getNuclide('Th232').lines;
  const th228 = getNuclide('Th228').lines;
  t.same(
    th232.filter((l) => l.emitter !== 'Ac-228').map((l) => [l.energy_keV, l.intensity]),
    th228.map((l) => [l.energy_keV, l.intensity]),
    'Th-232 minus Ac-228 is Th-228',
  );
  t.notOk(th228.some((l) => Math.abs(l.energy_keV - 911.196) < 1), 'Th-228 has no Ac-228 911 keV');
  for (const l of [...th232, ...th228]) if (l.emitter === 'Tl-208') t.ok(l.intensity <= 0.3594, `Tl-208 ${l.energy_keV} keV is at most the branch`);
  const ra = getNuclide('Ra226').lines;
  t.same([...new Set(ra.map((l) => l.emitter))].sort((a, b) => String(a).localeCompare(String(b))), ['Bi-214', 'Pb-214', 'Ra-226'], 'Ra-226 chain: Ra-226, Pb-214, Bi-214 lines');
  t.equal(ra.find((l) => l.energy_keV === 609.312)?.emitter, 'Bi-214');
  t.equal(ra.find((l) => l.energy_keV === 351.932)?.emitter, 'Pb-214');
});

t.test('U-233: own lines weak, U-232 daughters as companion lines under a stated assumption', async (t) => {
  const u = getNuclide('U233');
  t.ok(u.lines.every((l) => l.intensity < 0.005), 'no U-233 line reaches 0.5 %');
  t.match(u.assumptions ?? '', /5 ppm U-232/);
  const f = u232DaughtersPerU233Decay();
  // 5 ppm: U-232/U-233 activity ratio 5e-6 × (1.592e5 / 70.6) × (233 / 232) ≈ 0.0113 at purification, × 0.906 for
  // U-232 decay over 10 a, × 0.998 for Th-228 ingrowth (transient equilibrium 1.028, 97 % reached) ≈ 0.0102.
  t.ok(f > 0.0099 && f < 0.0105, `Th-228 decays per U-233 decay ${f.toFixed(4)}`);
  t.ok(u232DaughtersPerU233Decay(5, 0) === 0, 'no daughters right after purification');
  t.ok(u232DaughtersPerU233Decay(10) > 1.99 * f && u232DaughtersPerU233Decay(10) < 2.01 * f, 'proportional to the U-232 content');
  const tl = (u.companionLines ?? []).find((l) => l.energy_keV === 2614.511);
  t.ok(tl !== undefined && Math.abs(tl.intensity - f * 0.3594 * 0.99755) < 1e-12, 'companion Tl-208 2614.5 keV = daughters × 35.94 % × 99.755 %');
  t.ok((tl?.intensity ?? 0) > 3 * Math.max(...u.lines.map((l) => l.intensity)), 'the impurity outshines U-233 itself');
});

t.test('reactor-grade plutonium: lines follow from the stated composition and age', async (t) => {
  const pu = getNuclide('PuRG');
  const comp = new Map((pu.composition ?? []).map((c) => [c.nuclide, c]));
  t.same([...comp.keys()], ['Pu-238', 'Pu-239', 'Pu-240', 'Pu-241', 'Pu-242', 'Am-241', 'U-237']);
  const massSum = [...comp.values()].reduce((s, c) => s + c.massFraction, 0);
  t.ok(Math.abs(massSum - 1) < 1e-12, 'mass fractions sum to 1');
  t.equal(comp.get('Pu-239')?.activityPerHeadDecay, 1, 'intensities are per Pu-239 decay');
  // By hand: specific activities (Bq/g) Pu-239 2.296e9, Pu-240 8.40e9, Pu-241 3.83e12, Am-241 1.269e11.
  const a239 = 0.603 * 2.296e9;
  const decayed241 = 1 - 2 ** (-5 / 14.33);
  t.ok(Math.abs((comp.get('Pu-240')?.activityPerHeadDecay ?? 0) / ((0.243 * 8.4e9) / a239) - 1) < 0.01, 'Pu-240/Pu-239 activity ratio');
  t.ok(Math.abs((comp.get('Pu-241')?.activityPerHeadDecay ?? 0) / ((0.091 * (1 - decayed241) * 3.83e12) / a239) - 1) < 0.01, 'Pu-241 after 5 a');
  const am = comp.get('Am-241')?.activityPerHeadDecay ?? 0;
  // Am-241 decays little in 5 a (0.8 %), so its atoms are nearly those of the Pu-241 decayed.
  t.ok(Math.abs(am / ((0.091 * decayed241 * 1.269e11) / a239) - 1) < 0.01, `Am-241 ingrowth ${am.toFixed(3)} per Pu-239 decay`);
  t.ok(Math.abs((comp.get('U-237')?.activityPerHeadDecay ?? 0) / (PU241_TO_U237 * (comp.get('Pu-241')?.activityPerHeadDecay ?? 0)) - 1) < 1e-12, 'U-237 in equilibrium with Pu-241');
  const u237 = comp.get('U-237')?.activityPerHeadDecay ?? 0;
  // 59.54 keV: Am-241 35.92 % plus U-237 34.1 %, merged.
  const l59 = pu.lines.find((l) => Math.abs(l.energy_keV - 59.5409) < 0.01);
  t.ok(l59 !== undefined && Math.abs(l59.intensity - (am * 0.3592 + u237 * 0.341)) < 1e-12, '59.5 keV = Am-241 + U-237');
  t.equal(l59?.emitter, 'Am-241, U-237');
  t.ok(Math.abs(line('PuRG', 129.296) - line('Pu239', 129.296)) < 1e-15, 'Pu-239 129.3 keV per Pu-239 decay, as in the Pu-239 entry');
  t.ok(Math.abs(line('PuRG', 208.0) - (u237 * 0.213 + am * 0.00000786)) < 1e-12, '208.0 keV: U-237 21.3 % and Am-241 7.86E-4 %');
  t.ok(line('PuRG', 98.44) > 10 * line('Pu239', 98.44), 'U Kα1 98.4 keV: Pu-241 alpha decays outnumber Pu-239 in reactor-grade Pu');
  for (const [e, who] of [[148.567, 'Pu-241'], [160.308, 'Pu-240'], [152.719, 'Pu-238'], [413.713, 'Pu-239']] as const) {
    t.equal(pu.lines.find((l) => l.energy_keV === e)?.emitter, who, `${e} keV from ${who}`);
  }
  t.ok(pu.lines.every((l) => l.intensity >= 5e-6), 'lines below 5E-6 per Pu-239 decay dropped');
  // Fresh plutonium: no americium yet.
  const fresh = plutoniumMixture({ ...REACTOR_GRADE, age_a: 0 });
  t.equal(fresh.composition.find((c) => c.nuclide === 'Am-241')?.activityPerHeadDecay, 0);
  t.ok(fresh.lines.find((l) => Math.abs(l.energy_keV - 59.5409) < 0.01)!.intensity < 0.01 * l59!.intensity, 'at separation 59.5 keV is U-237 only');
  t.throws(() => plutoniumMixture({ ...REACTOR_GRADE, age_a: -1 }), RangeError);
  t.match(pu.assumptions ?? '', /Pu-240 24.3 %/);
});

t.test('decay: one half-life halves, two quarter, zero time keeps', async (t) => {
  for (const id of nuclideIds()) {
    const T = getNuclide(id).halfLife_s;
    t.ok(Math.abs(decayFactor(id, T) - 0.5) < 1e-12, `${id}: 0.5 after one half-life`);
    t.ok(Math.abs(decayFactor(id, 2 * T) - 0.25) < 1e-12, `${id}: 0.25 after two`);
    t.equal(decayFactor(id, 0), 1);
  }
  const T = getNuclide('I131').halfLife_s;
  t.ok(Math.abs(activityAt(1e9, 'I131', 3 * T) - 1.25e8) < 1, 'I-131 1 GBq -> 125 MBq after 3 half-lives');
  t.ok(decayFactor('Co60', -getNuclide('Co60').halfLife_s) === 2, 'negative elapsed time goes back in time');
  t.throws(() => decayFactor('Co60', Number.NaN), RangeError);
  t.throws(() => activityAt(-1, 'Co60', 0), RangeError);
});

t.test('unknown nuclide: a coded error that lists the valid ids', async (t) => {
  let caught: unknown;
  try {
    getNuclide('Cs-138');
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof UnknownNuclideError);
  const err = caught as UnknownNuclideError;
  t.equal(err.code, 'E_UNKNOWN_NUCLIDE');
  t.match(err.message, /unknown nuclide 'Cs-138'/);
  for (const id of nuclideIds()) t.ok(err.message.includes(id), `message lists ${id}`);
  t.throws(() => decayFactor('Unobtainium', 1), UnknownNuclideError);
});
