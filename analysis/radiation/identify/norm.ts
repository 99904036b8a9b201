// NORM from the background's own chains: with K-40, U and Th fitted as separate background parts, a NORM load is one chain out of proportion with the others.
//
// Soils differ in K:U:Th, so a chain is only called a source when its fitted amount, relative to its share in the
// modelled soil, exceeds the median of the three chains by more than CHAIN_RATIO, and that excess is significant.
// Factor 3: ratios of K, eU and eTh between common soils and rocks stay within about that of the world average
// (UNSCEAR 2000, Annex B); a fertiliser or ceramics load on a truck puts one chain ten times and more above it.

/** The nuclide a chain in excess is reported as (Ra-226: the U-chain lines seen are those of its daughters). */
const CHAIN_NUCLIDE: Readonly<Record<string, string>> = { K40: 'K40', U238: 'Ra226', Th232: 'Th232' };
export const CHAIN_RATIO = 3;
/** Significance (σ) of the counts beyond CHAIN_RATIO × the median proportion. */
export const CHAIN_EXCESS_Z = 5;

export interface ChainAmount {
  id: string;
  /** Share of this chain in the modelled natural background (0-1). */
  share: number;
  /** Fitted counts of the chain part, and their standard error. */
  counts: number;
  sigma: number;
}

export interface ChainExcess {
  nuclide: string;
  /** Counts beyond the median chain's proportion. */
  netCounts: number;
  sigma: number;
  /** Of the counts beyond CHAIN_RATIO × the median proportion. */
  significance: number;
}

export function chainExcess(chains: readonly ChainAmount[]): ChainExcess[] {
  if (chains.length < 3) return [];
  const implied = chains.map((c) => (c.share > 0 ? c.counts / c.share : 0)).sort((a, b) => a - b);
  const median = implied[Math.floor(implied.length / 2)];
  const out: ChainExcess[] = [];
  for (const c of chains) {
    const nuclide = CHAIN_NUCLIDE[c.id];
    if (nuclide === undefined || !(c.share > 0) || !(c.sigma > 0)) continue;
    const beyond = c.counts - CHAIN_RATIO * median * c.share;
    const z = beyond / c.sigma;
    if (!(z >= CHAIN_EXCESS_Z)) continue;
    out.push({ nuclide, netCounts: c.counts - median * c.share, sigma: c.sigma, significance: z });
  }
  return out;
}
