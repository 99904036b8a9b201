// Identification on real files nobody here made: an HPGe portal's Ba-133 and background (read with NaI templates), and SNM acceptance on its lines.
import { join } from 'node:path';
import t from 'tap';
import { readRadFile } from '../../devices/radiation/files.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { type Identification, NuclideIdentifier } from '../../analysis/radiation/identify.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import { refData } from '../helpers/paths.js';

const DATA = refData();
const identifier = new NuclideIdentifier({ detector: DETECTORS['NaI-2x2'], backgroundParts: 'separate' });
/** Confidence under which an entry does not count as an identification (the "unknown" threshold). */
const UNKNOWN_THRESHOLD = 0.5;

/** The detectors' spectra summed on the first one's calibration, as `rad identify` does. */
function summed(ms: Measurement[]) {
  const spectra = ms.flatMap((m) => m.spectra);
  const counts = new Float64Array(spectra[0].counts.length);
  let liveTime_s = 0;
  for (const s of spectra) {
    for (let i = 0; i < counts.length; i++) counts[i] += s.counts[i];
    liveTime_s += s.liveTime_s;
  }
  return { counts, liveTime_s, calibration: spectra[0].calibration! };
}

const confident = (r: Identification) => r.nuclides.filter((n) => n.confidence >= UNKNOWN_THRESHOLD);

t.test('InterSpec Ba-133 portal file (8 HPGe detectors summed): Ba-133, no SNM, no medical nuclide', async (t) => {
  const file = await readRadFile(join(DATA, 'n42', 'interspec-ba133_source_640s.n42'));
  const bgFile = await readRadFile(join(DATA, 'n42', 'interspec-background.n42'));
  for (const [what, r] of [
    ['model background', identifier.identify(summed(file.measurements))],
    ['measured background', identifier.identify(summed(file.measurements), { background: summed(bgFile.measurements) })],
  ] as const) {
    t.equal(r.nuclides[0]?.nuclide, 'Ba133', `${what}: Ba-133 first`);
    t.notOk(confident(r).some((n) => n.category === 'SNM'), `${what}: no SNM (${r.nuclides.map((n) => n.nuclide).join(', ')})`);
    t.notOk(confident(r).some((n) => n.category === 'medical'), `${what}: no medical nuclide`);
    t.not(r.category, 'SNM', `${what}: category not SNM`);
    t.ok(Math.abs((r.nuclides[0]?.share ?? 0) - 1) < 1e-9 || r.nuclides.length > 1, `${what}: share of a lone nuclide is 1`);
  }
});

t.test('InterSpec portal background, each of the 8 detectors: nothing above background', async (t) => {
  const bgFile = await readRadFile(join(DATA, 'n42', 'interspec-background.n42'));
  const spectra = bgFile.measurements.flatMap((m) => m.spectra);
  t.equal(spectra.length, 8, 'eight detector spectra');
  for (const s of spectra) {
    const r = identifier.identify({ counts: s.counts, liveTime_s: s.liveTime_s, calibration: s.calibration! });
    t.same(
      r.nuclides.map((n) => n.nuclide),
      [],
      `${s.detector}: no nuclide (rejected: ${(r.rejected ?? []).map((x) => `${x.nuclide} ${x.kind}`).join(', ')})`,
    );
    t.notOk(r.unknown, `${s.detector}: not unknown${r.unknown ? ` (${r.unknown.reason})` : ''}`);
    t.ok(r.background.components !== undefined && r.background.counts > 0.9 * r.fit.grossCounts, `${s.detector}: background holds the counts`);
  }
});

t.test('RadiaCode Am-241 (CsI, read with NaI templates): Am-241, not reactor plutonium', async (t) => {
  const file = await readRadFile(join(DATA, 'n42', 'radiacode-am241.n42'));
  const r = identifier.identify(summed(file.measurements));
  t.equal(r.nuclides[0]?.nuclide, 'Am241', 'Am-241 first');
  t.notOk(r.nuclides.some((n) => n.category === 'SNM'), `no SNM (${r.nuclides.map((n) => n.nuclide).join(', ')})`);
  for (const x of r.rejected ?? []) if (x.kind === 'snm-not-confirmed') t.match(x.reason, /keV/, `${x.nuclide}: the rejection names the missing line`);
});
