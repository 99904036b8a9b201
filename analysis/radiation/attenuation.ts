// Photon attenuation in the materials a source is seen through (air, water, concrete, steel, lead) and in the detector crystals.
//
// Data: NIST "Tables of X-Ray Mass Attenuation Coefficients and Mass Energy-Absorption Coefficients"
// (J. H. Hubbell and S. M. Seltzer, NISTIR 5632, 1995; NIST Standard Reference Database 126), which for
// these energies are the XCOM total cross-sections with coherent scattering. μ/ρ is the total attenuation
// (coherent included), μen/ρ the energy absorption, both in cm²/g, at the standard energies 10 keV-10 MeV plus
// the absorption edges in that range (two rows at the same energy: below and above the edge).
// NaI is not one of NIST's compounds; it is built here from the NIST sodium and iodine tables by the mixture
// rule (weight fractions), which is how NIST builds its compounds' μ/ρ; for μen/ρ additivity is an
// approximation (what escapes as fluorescence or bremsstrahlung depends a little on the compound), small at
// these energies and irrelevant for its use here (detector interaction probabilities use μ/ρ).

export type Material = 'air' | 'water' | 'concrete' | 'iron' | 'steel' | 'lead' | 'NaI' | 'CsI';

export const MATERIALS: readonly Material[] = ['air', 'water', 'concrete', 'iron', 'steel', 'lead', 'NaI', 'CsI'];

/** Densities in g/cm³. Air: dry, 20 °C, 101.325 kPa. Concrete: NIST "ordinary" (2.3). Steel: carbon steel, iron coefficients. */
export const DENSITY_g_cm3: Readonly<Record<Material, number>> = {
  air: 1.205e-3,
  water: 0.998,
  concrete: 2.3,
  iron: 7.874,
  steel: 7.85,
  lead: 11.35,
  NaI: 3.667,
  CsI: 4.51,
};

/** Mean Z/A (mol/g) used for the Klein–Nishina (Compton) share; NIST values for the compounds. */
export const Z_OVER_A: Readonly<Record<Material, number>> = {
  air: 0.49919,
  water: 0.55508,
  concrete: 0.50274,
  iron: 0.46557,
  steel: 0.46557,
  lead: 0.39575,
  NaI: 0.42697,
  CsI: 0.41569,
};

export const MIN_ENERGY_keV = 10;
export const MAX_ENERGY_keV = 10000;

type Row = [E_keV: number, muRho: number, muEnRho: number];

interface Table {
  E: number[];
  mu: number[];
  muen: number[];
}

function table(rows: Row[]): Table {
  return { E: rows.map((r) => r[0]), mu: rows.map((r) => r[1]), muen: rows.map((r) => r[2]) };
}

// NIST, "Air, Dry (Near Sea Level)".
const AIR = table([
  [10, 5.12, 4.742],
  [15, 1.614, 1.334],
  [20, 0.7779, 0.5389],
  [30, 0.3538, 0.1537],
  [40, 0.2485, 0.06833],
  [50, 0.208, 0.04098],
  [60, 0.1875, 0.03041],
  [80, 0.1662, 0.02407],
  [100, 0.1541, 0.02325],
  [150, 0.1356, 0.02496],
  [200, 0.1233, 0.02672],
  [300, 0.1067, 0.02872],
  [400, 0.09549, 0.02949],
  [500, 0.08712, 0.02966],
  [600, 0.08055, 0.02953],
  [800, 0.07074, 0.02882],
  [1000, 0.06358, 0.02789],
  [1250, 0.05687, 0.02666],
  [1500, 0.05175, 0.02547],
  [2000, 0.04447, 0.02345],
  [3000, 0.03581, 0.02057],
  [4000, 0.03079, 0.0187],
  [5000, 0.02751, 0.0174],
  [6000, 0.02522, 0.01647],
  [8000, 0.02225, 0.01525],
  [10000, 0.02045, 0.0145],
]);

// NIST, "Water, Liquid".
const WATER = table([
  [10, 5.329, 4.944],
  [15, 1.673, 1.374],
  [20, 0.8096, 0.5503],
  [30, 0.3756, 0.1557],
  [40, 0.2683, 0.06947],
  [50, 0.2269, 0.04223],
  [60, 0.2059, 0.0319],
  [80, 0.1837, 0.02597],
  [100, 0.1707, 0.02546],
  [150, 0.1505, 0.02764],
  [200, 0.137, 0.02967],
  [300, 0.1186, 0.03192],
  [400, 0.1061, 0.03279],
  [500, 0.09687, 0.03299],
  [600, 0.08956, 0.03284],
  [800, 0.07865, 0.03206],
  [1000, 0.07072, 0.03103],
  [1250, 0.06323, 0.02965],
  [1500, 0.05754, 0.02833],
  [2000, 0.04942, 0.02608],
  [3000, 0.03969, 0.02281],
  [4000, 0.03403, 0.02066],
  [5000, 0.03031, 0.01915],
  [6000, 0.0277, 0.01806],
  [8000, 0.02429, 0.01658],
  [10000, 0.02219, 0.01566],
]);

// NIST, "Concrete, Ordinary" (NBS 03 composition).
const CONCRETE = table([
  [10, 20.45, 19.37],
  [15, 6.351, 5.855],
  [20, 2.806, 2.462],
  [30, 0.9601, 0.7157],
  [40, 0.5058, 0.2995],
  [50, 0.3412, 0.1563],
  [60, 0.266, 0.09554],
  [80, 0.2014, 0.0505],
  [100, 0.1738, 0.03649],
  [150, 0.1436, 0.02897],
  [200, 0.1282, 0.02868],
  [300, 0.1097, 0.02969],
  [400, 0.09783, 0.03024],
  [500, 0.08915, 0.03033],
  [600, 0.08236, 0.03015],
  [800, 0.07227, 0.0294],
  [1000, 0.06495, 0.02843],
  [1250, 0.05807, 0.02716],
  [1500, 0.05288, 0.02595],
  [2000, 0.04557, 0.02395],
  [3000, 0.03701, 0.0212],
  [4000, 0.03217, 0.01951],
  [5000, 0.02908, 0.0184],
  [6000, 0.02697, 0.01763],
  [8000, 0.02432, 0.01669],
  [10000, 0.02278, 0.01617],
]);

// NIST, iron (Z = 26); K edge at 7.112 keV is below this range.
const IRON = table([
  [10, 170.6, 136.9],
  [15, 57.08, 48.96],
  [20, 25.68, 22.6],
  [30, 8.176, 7.251],
  [40, 3.629, 3.155],
  [50, 1.958, 1.638],
  [60, 1.205, 0.9555],
  [80, 0.5952, 0.4104],
  [100, 0.3717, 0.2177],
  [150, 0.1964, 0.07961],
  [200, 0.146, 0.04825],
  [300, 0.1099, 0.03361],
  [400, 0.094, 0.03039],
  [500, 0.08414, 0.02914],
  [600, 0.07704, 0.02836],
  [800, 0.06699, 0.02714],
  [1000, 0.05995, 0.02603],
  [1250, 0.0535, 0.02472],
  [1500, 0.04883, 0.0236],
  [2000, 0.04265, 0.02199],
  [3000, 0.03621, 0.02042],
  [4000, 0.03312, 0.0199],
  [5000, 0.03146, 0.01983],
  [6000, 0.03057, 0.01997],
  [8000, 0.02991, 0.0205],
  [10000, 0.02994, 0.02108],
]);

// NIST, lead (Z = 82), with the L3, L2, L1 and K edges.
const LEAD = table([
  [10, 130.6, 124.7],
  [13.0352, 67.01, 62.7],
  [13.0352, 162.1, 129.1],
  [15, 111.6, 91.0],
  [15.2, 107.8, 88.07],
  [15.2, 148.5, 113.1],
  [15.5269, 141.6, 108.3],
  [15.8608, 134.4, 103.2],
  [15.8608, 154.8, 118.0],
  [20, 86.36, 68.99],
  [30, 30.32, 25.36],
  [40, 14.36, 12.11],
  [50, 8.041, 6.74],
  [60, 5.021, 4.149],
  [80, 2.419, 1.916],
  [88.0045, 1.91, 1.482],
  [88.0045, 7.683, 2.16],
  [100, 5.549, 1.976],
  [150, 2.014, 1.056],
  [200, 0.9985, 0.587],
  [300, 0.4031, 0.2455],
  [400, 0.2323, 0.137],
  [500, 0.1614, 0.09128],
  [600, 0.1248, 0.06819],
  [800, 0.0887, 0.04644],
  [1000, 0.07102, 0.03654],
  [1250, 0.05876, 0.02988],
  [1500, 0.05222, 0.0264],
  [2000, 0.04606, 0.0236],
  [3000, 0.04234, 0.02322],
  [4000, 0.04197, 0.02449],
  [5000, 0.04272, 0.026],
  [6000, 0.04391, 0.02744],
  [8000, 0.04675, 0.02989],
  [10000, 0.04972, 0.03181],
]);

// NIST, "Cesium Iodide", with the iodine (33.17 keV) and caesium (35.98 keV) K edges. The table's
// intermediate row at 34.55 keV is left out: the copy available to us reads 26.87 cm²/g there, which does
// not fit between 21.22 (33.17 keV) and 17.19 (35.98 keV); iodine's own share at 34.55 keV is only about
// 16 cm²/g, so the row was most likely mistyped. Log-log interpolation across the gap is used instead.
const CSI = table([
  [10, 171.1, 162.4],
  [15, 58.15, 54.86],
  [20, 26.86, 24.96],
  [30, 9.045, 8.071],
  [33.1694, 6.923, 6.088],
  [33.1694, 21.22, 9.086],
  [35.9846, 17.19, 7.99],
  [35.9846, 30.27, 10.59],
  [40, 22.97, 9.395],
  [50, 12.87, 6.596],
  [60, 7.921, 4.586],
  [80, 3.677, 2.399],
  [100, 2.035, 1.391],
  [150, 0.729, 0.4951],
  [200, 0.3805, 0.2401],
  [300, 0.1818, 0.09634],
  [400, 0.1237, 0.05828],
  [500, 0.09809, 0.04366],
  [600, 0.08373, 0.03657],
  [800, 0.06769, 0.02987],
  [1000, 0.05848, 0.02657],
  [1250, 0.0511, 0.02402],
  [1500, 0.04644, 0.02243],
  [2000, 0.04123, 0.02089],
  [3000, 0.03721, 0.02059],
  [4000, 0.03616, 0.02144],
  [5000, 0.03622, 0.02255],
  [6000, 0.03673, 0.02364],
  [8000, 0.03838, 0.02563],
  [10000, 0.0403, 0.02725],
]);

// NIST, sodium (Z = 11) and iodine (Z = 53, K edge 33.17 keV): only used to build NaI.
const SODIUM = table([
  [10, 15.57, 14.99],
  [15, 4.694, 4.313],
  [20, 2.057, 1.759],
  [30, 0.7197, 0.4928],
  [40, 0.3969, 0.2031],
  [50, 0.2804, 0.1063],
  [60, 0.2268, 0.06625],
  [80, 0.1796, 0.03761],
  [100, 0.1585, 0.02931],
  [150, 0.1335, 0.02579],
  [200, 0.1199, 0.02635],
  [300, 0.1029, 0.02771],
  [400, 0.09185, 0.02833],
  [500, 0.08372, 0.02845],
  [600, 0.07736, 0.0283],
  [800, 0.06788, 0.0276],
  [1000, 0.061, 0.02669],
  [1250, 0.05454, 0.02549],
  [1500, 0.04968, 0.02437],
  [2000, 0.04282, 0.02249],
  [3000, 0.03487, 0.01997],
  [4000, 0.03037, 0.01842],
  [5000, 0.02753, 0.01743],
  [6000, 0.02559, 0.01675],
  [8000, 0.02319, 0.01595],
  [10000, 0.02181, 0.01552],
]);

const IODINE = table([
  [10, 162.6, 154.8],
  [15, 55.12, 52.08],
  [20, 25.43, 23.63],
  [30, 8.561, 7.622],
  [33.1694, 6.553, 5.744],
  [33.1694, 35.82, 11.88],
  [40, 22.1, 9.616],
  [50, 12.32, 6.573],
  [60, 7.579, 4.518],
  [80, 3.51, 2.331],
  [100, 1.942, 1.342],
  [150, 0.6978, 0.4742],
  [200, 0.3663, 0.2295],
  [300, 0.1771, 0.09257],
  [400, 0.1217, 0.0565],
  [500, 0.09701, 0.04267],
  [600, 0.08313, 0.03598],
  [800, 0.06749, 0.02962],
  [1000, 0.05841, 0.02646],
  [1250, 0.05111, 0.02399],
  [1500, 0.04647, 0.02243],
  [2000, 0.04124, 0.02092],
  [3000, 0.03716, 0.02059],
  [4000, 0.03607, 0.02142],
  [5000, 0.03608, 0.0225],
  [6000, 0.03655, 0.02357],
  [8000, 0.03815, 0.02553],
  [10000, 0.04002, 0.02714],
]);

// NaI weight fractions from atomic masses Na 22.98977, I 126.90447.
const W_NA = 22.98977 / (22.98977 + 126.90447);

function mixture(parts: [Table, number][], grid: Table): Table {
  const out: Table = { E: [], mu: [], muen: [] };
  for (let i = 0; i < grid.E.length; i++) {
    const E = grid.E[i];
    // At an edge the grid has two rows; the side is taken from the element that owns the edge.
    const side: Side = i + 1 < grid.E.length && grid.E[i + 1] === E ? 'below' : 'above';
    let mu = 0;
    let muen = 0;
    for (const [t, w] of parts) {
      mu += w * interpolateLogLog(t.E, t.mu, E, side);
      muen += w * interpolateLogLog(t.E, t.muen, E, side);
    }
    out.E.push(E);
    out.mu.push(mu);
    out.muen.push(muen);
  }
  return out;
}

const NAI = mixture(
  [
    [SODIUM, W_NA],
    [IODINE, 1 - W_NA],
  ],
  IODINE,
);

const TABLES: Readonly<Record<Material, Table>> = {
  air: AIR,
  water: WATER,
  concrete: CONCRETE,
  iron: IRON,
  steel: IRON,
  lead: LEAD,
  NaI: NAI,
  CsI: CSI,
};

type Side = 'below' | 'above';

/**
 * Log-log interpolation in a table whose x may repeat (an absorption edge: the first row is the value below,
 * the second above). Exactly at a repeated x, `side` picks the row; default 'above' (a photon at the edge
 * energy can already eject the electron). Throws RangeError outside the table.
 */
export function interpolateLogLog(xs: readonly number[], ys: readonly number[], x: number, side: Side = 'above'): number {
  const n = xs.length;
  if (!(x >= xs[0] && x <= xs[n - 1])) {
    throw new RangeError(`energy ${x} keV is outside the tabulated range ${xs[0]}-${xs[n - 1]} keV`);
  }
  // First index with xs[i] >= x.
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (xs[lo] === x) {
    if (lo + 1 < n && xs[lo + 1] === x) return side === 'below' ? ys[lo] : ys[lo + 1];
    return ys[lo];
  }
  const x0 = xs[lo - 1];
  const x1 = xs[lo];
  const t = Math.log(x / x0) / Math.log(x1 / x0);
  return Math.exp(Math.log(ys[lo - 1]) + t * (Math.log(ys[lo]) - Math.log(ys[lo - 1])));
}

function tableFor(material: Material): Table {
  const t = TABLES[material];
  if (t === undefined) throw new RangeError(`unknown material '${String(material)}': expected one of ${MATERIALS.join(', ')}`);
  return t;
}

/** Mass attenuation coefficient μ/ρ (cm²/g), coherent scattering included. */
export function muRho_cm2_g(material: Material, E_keV: number): number {
  const t = tableFor(material);
  return interpolateLogLog(t.E, t.mu, E_keV);
}

/** Mass energy-absorption coefficient μen/ρ (cm²/g). */
export function muEnRho_cm2_g(material: Material, E_keV: number): number {
  const t = tableFor(material);
  return interpolateLogLog(t.E, t.muen, E_keV);
}

/** Linear attenuation coefficient μ (1/cm) at the material's nominal density, or at `density_g_cm3`. */
export function mu_cm(material: Material, E_keV: number, density_g_cm3 = DENSITY_g_cm3[material]): number {
  return muRho_cm2_g(material, E_keV) * density_g_cm3;
}

/** Uncollided (narrow-beam) transmission exp(-μx) through `thickness_cm`. */
export function transmission(material: Material, thickness_cm: number, E_keV: number): number {
  if (!(thickness_cm >= 0) || !Number.isFinite(thickness_cm)) {
    throw new RangeError(`thickness_cm must be a finite length >= 0, got ${thickness_cm}`);
  }
  return Math.exp(-mu_cm(material, E_keV) * thickness_cm);
}

/**
 * Dose buildup factor for a point isotropic source behind `mux` mean free paths: the linear form
 * B = 1 + μx. Chosen because it needs no fitted coefficients (the ANSI/ANS-6.4.3 G-P or Berger/Taylor
 * coefficients are material and energy tables we do not carry). What it is good for: air and other
 * low-Z media at a few hundred keV and above, up to a few mean free paths, where the true buildup is of
 * that size (water at 1 MeV, 1 mfp: about 2). Where it is not: it overestimates buildup in lead and iron
 * below about 1 MeV (photoelectric absorption removes the scattered photons) and underestimates it in
 * thick low-Z shields (beyond ~5 mfp the real buildup grows faster than linearly). Off by default in
 * the dose calculation for that reason.
 */
export function buildupLinear(mux: number): number {
  if (!(mux >= 0) || !Number.isFinite(mux)) throw new RangeError(`mux must be a finite number of mean free paths >= 0, got ${mux}`);
  return 1 + mux;
}

const R_E2_cm2 = 7.9407877e-26; // classical electron radius squared (CODATA 2018)
export const ELECTRON_REST_keV = 510.99895;
export const AVOGADRO = 6.02214076e23;

/** Klein–Nishina total Compton cross-section per free electron (cm²). */
export function kleinNishinaPerElectron_cm2(E_keV: number): number {
  const k = E_keV / ELECTRON_REST_keV;
  const a = 1 + 2 * k;
  return (
    2 *
    Math.PI *
    R_E2_cm2 *
    (((1 + k) / (k * k)) * ((2 * (1 + k)) / a - Math.log(a) / k) + Math.log(a) / (2 * k) - (1 + 3 * k) / (a * a))
  );
}

/**
 * Klein–Nishina energy distribution of the Compton electron, dσ/dT (cm² per keV per electron), for a
 * photon of energy E depositing kinetic energy T (0 <= T <= Compton edge). Zero outside that range.
 */
export function kleinNishinaDsigmaDT(E_keV: number, T_keV: number): number {
  const k = E_keV / ELECTRON_REST_keV;
  const edge = comptonEdge_keV(E_keV);
  if (T_keV < 0 || T_keV > edge) return 0;
  const s = T_keV / E_keV;
  return (
    ((Math.PI * R_E2_cm2) / (ELECTRON_REST_keV * k * k)) *
    (2 + (s * s) / (k * k * (1 - s) * (1 - s)) + (s / (1 - s)) * (s - 2 / k))
  );
}

/** Maximum energy given to a Compton electron: E·2α/(1+2α), α = E/511 keV. */
export function comptonEdge_keV(E_keV: number): number {
  const k = E_keV / ELECTRON_REST_keV;
  return (E_keV * 2 * k) / (1 + 2 * k);
}

/** Incoherent (free-electron Klein–Nishina) part of μ/ρ for a material (cm²/g). */
export function comptonMuRho_cm2_g(material: Material, E_keV: number): number {
  return kleinNishinaPerElectron_cm2(E_keV) * AVOGADRO * Z_OVER_A[material];
}
