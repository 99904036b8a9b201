// Nuclide table: required set and categories, the selection rule, physical sanity of lines and half-lives, decay.
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
};

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
});

t.test('entries are well formed: id/label, sorted lines, sources', async (t) => {
  for (const [key, n] of Object.entries(NUCLIDES)) {
    t.equal(n.name, key, `${key}: name is its key`);
    t.equal(n.label.replace('-', ''), n.name, `${key}: label is the id with a dash`);
    t.ok(n.halfLife_s > 0 && Number.isFinite(n.halfLife_s), `${key}: half-life positive`);
    t.ok(n.source.length > 10, `${key}: source cited`);
    t.ok(n.lines.length > 0, `${key}: has lines`);
    for (let i = 1; i < n.lines.length; i++) {
      t.ok(n.lines[i].energy_keV >= n.lines[i - 1].energy_keV, `${key}: lines sorted by energy`);
    }
    for (const l of n.lines) {
      t.ok(l.energy_keV > 0 && l.energy_keV <= 3000, `${key} ${l.energy_keV} keV within 0-3 MeV`);
      // Up to 2 photons per decay: only annihilation (two per positron) exceeds one.
      t.ok(l.intensity > 0 && l.intensity <= 2, `${key} ${l.energy_keV} keV: 0 < intensity <= 2`);
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
      t.equal(n.name, 'Pu239', `${n.name}: only Pu-239 keeps lines below 0.5 %`);
      t.match(n.notes ?? '', /Exception: no Pu-239 line reaches 0.5 %/);
    }
  }
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
  ];
  for (const [id, A, Bq_g] of known) {
    const s = specific(id, A);
    t.ok(Math.abs(s / Bq_g - 1) < 0.02, `${id}: ${s.toExponential(3)} Bq/g ≈ ${Bq_g.toExponential(3)}`);
  }
  for (const n of Object.values(NUCLIDES)) {
    if (n.category === 'medical') t.ok(n.halfLife_s < 10 * 86400, `${n.name}: medical nuclide lives < 10 d`);
    if (n.category === 'NORM' || n.category === 'SNM') t.ok(n.halfLife_s > 1000 * YEAR_s, `${n.name}: > 1000 a`);
  }
  t.ok(getNuclide('F18').halfLife_s < getNuclide('Tc99m').halfLife_s, 'F-18 shorter than Tc-99m');
  t.ok(Math.abs(getNuclide('Tc99m').halfLife_s / 3600 - 6.0) < 0.01, 'Tc-99m ~6.0 h');
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
