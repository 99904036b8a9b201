// Dual-energy X-ray physics for the synthetic images and the tests: mass attenuation of common materials at two effective energies.
//
// A dual-energy scanner measures each pixel twice, through a low- and a high-energy spectrum. Through a stack of
// materials the transmission per channel follows Beer-Lambert, T_e = exp(-Σ (μ/ρ)_e(m) · ρ_m · t_m), so the log
// attenuations A_e = -ln T_e add and transmissions multiply. A real tube spectrum hardens with thickness; the
// synthetic world here uses one effective energy per channel (50 keV low, 80 keV high: below lead's K edge at
// 88 keV, so the low/high ratio stays monotone in Z), which keeps the ratio R = A_low / A_high a property of the
// material alone. The materials' calibrated curve (materials.ts) is what absorbs hardening on real scanners.

export const E_LOW_keV = 50;
export const E_HIGH_keV = 80;

/** Material classes a screener's colour rendering shows: orange, green, blue. */
export type MaterialClass = 'organic' | 'inorganic' | 'metal';

export interface Material {
  /** g/cm³ (bulk, for the densities things have in luggage). */
  density_g_cm3: number;
  /** Mass attenuation coefficient μ/ρ in cm²/g at E_LOW_keV and E_HIGH_keV (total with coherent scattering). */
  muRho_low: number;
  muRho_high: number;
  class: MaterialClass;
}

/**
 * μ/ρ values rounded from NIST XCOM/XAAMDI tables at 50 and 80 keV (compounds by mass fractions of their elements);
 * the composite items (battery cell, circuit board) are mixtures chosen to sit where such items sit in real
 * dual-energy images.
 */
export const MATERIALS = {
  air: { density_g_cm3: 0.0012, muRho_low: 0.208, muRho_high: 0.1662, class: 'organic' },
  water: { density_g_cm3: 1.0, muRho_low: 0.2269, muRho_high: 0.1837, class: 'organic' },
  polyethylene: { density_g_cm3: 0.94, muRho_low: 0.2055, muRho_high: 0.1803, class: 'organic' },
  /** Clothing, paper, books: cellulose at the bulk density of folded cloth or a stack of paper. */
  cloth: { density_g_cm3: 0.35, muRho_low: 0.2198, muRho_high: 0.1786, class: 'organic' },
  paper: { density_g_cm3: 0.8, muRho_low: 0.2198, muRho_high: 0.1786, class: 'organic' },
  wood: { density_g_cm3: 0.6, muRho_low: 0.2193, muRho_high: 0.1782, class: 'organic' },
  /** TNT-like dense organic (C7H5N3O6): the material of the organic-block and IED charge simulants. */
  explosive: { density_g_cm3: 1.65, muRho_low: 0.2176, muRho_high: 0.1765, class: 'organic' },
  glass: { density_g_cm3: 2.5, muRho_low: 0.318, muRho_high: 0.193, class: 'inorganic' },
  aluminium: { density_g_cm3: 2.7, muRho_low: 0.3681, muRho_high: 0.2018, class: 'inorganic' },
  /** Glass-fibre board with copper: electronics. */
  circuit: { density_g_cm3: 1.9, muRho_low: 0.52, muRho_high: 0.24, class: 'inorganic' },
  steel: { density_g_cm3: 7.87, muRho_low: 1.958, muRho_high: 0.5952, class: 'metal' },
  copper: { density_g_cm3: 8.96, muRho_low: 2.613, muRho_high: 0.7625, class: 'metal' },
  lead: { density_g_cm3: 11.35, muRho_low: 8.041, muRho_high: 2.419, class: 'metal' },
  /** Lithium-ion cell: metal foils and transition-metal oxide. */
  battery: { density_g_cm3: 2.6, muRho_low: 1.15, muRho_high: 0.39, class: 'metal' },
} as const satisfies Record<string, Material>;

export type MaterialName = keyof typeof MATERIALS;

/** Linear attenuation μ (1/cm) of a material at the low and high effective energy. */
export function linearMu(name: MaterialName): { low: number; high: number } {
  const m: Material = MATERIALS[name];
  return { low: m.muRho_low * m.density_g_cm3, high: m.muRho_high * m.density_g_cm3 };
}

/** The dual-energy ratio R = A_low / A_high of a material (thickness-independent at fixed effective energies). */
export function dualRatio(name: MaterialName): number {
  const m: Material = MATERIALS[name];
  return m.muRho_low / m.muRho_high;
}

/** Beer-Lambert transmission of a stack of (material, thickness in cm) layers per channel. */
export function stackTransmission(layers: readonly { material: MaterialName; thickness_cm: number }[]): { low: number; high: number } {
  let aLow = 0;
  let aHigh = 0;
  for (const l of layers) {
    const mu = linearMu(l.material);
    aLow += mu.low * l.thickness_cm;
    aHigh += mu.high * l.thickness_cm;
  }
  return { low: Math.exp(-aLow), high: Math.exp(-aHigh) };
}
