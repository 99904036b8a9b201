// customs-calib background: a background spectrum captured on a live node over MQTT, kept as N42 and as a result.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { CustomsError } from '../../common/errors.js';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';
import { signPayload, type SpectrumMsg } from '../../protocol/index.js';
import { sha256 } from '../../protocol/calibration-record.js';
import { capture } from '../remote.js';
import { brokerFrom, brokerOptions, type BrokerCli } from './broker.js';
import { collect, examples, f2, positive, writeAtomic, type CliContext } from './common.js';
import { loadKey } from './records.js';
import type { AnalysisFile } from './spectrum.js';

interface BackgroundCli extends BrokerCli {
  node: string;
  detector: string[];
  duration: number;
  key: string;
  keyId?: string;
  out: string;
  json?: boolean;
}

export function registerBackground(program: Command, ctx: CliContext): void {
  brokerOptions(
    program
      .command('background')
      .description('take a background spectrum from a live node over MQTT (signed capture command; progress on stderr)')
      .requiredOption('--node <id>', 'node id')
      .requiredOption('--detector <id>', 'detector on the node (repeatable)', collect)
      .requiredOption('--duration <s>', 'seconds of spectra to sum', positive('--duration'))
      .requiredOption('--key <file>', 'technician private key (customs-calib keygen)')
      .option('--key-id <id>', 'key id (default: the key file name)')
      .option('--out <dir>', 'where the N42 spectra and the results go', '.')
      .option('--json', 'print JSON'),
  )
    .addHelpText('after', examples('background --node veh-07 --site port-a --detector det-a --duration 120 --key keys/ann-smith.key --out bg'))
    .action((o: BackgroundCli) => background(o, ctx));
}

async function background(o: BackgroundCli, ctx: CliContext): Promise<void> {
  const k = loadKey(o.key, o.keyId);
  const cmdId = `cap-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 6)}`;
  const env = signPayload({ cmdId, detectors: o.detector, duration_s: o.duration, issued: new Date().toISOString() }, k.pem, k.keyId);
  ctx.io.err(`capture ${cmdId}: ${o.duration} s of ${o.detector.join(', ')} on ${o.node}\n`);
  const r = await capture(brokerFrom(o), o.node, env, (m) => ctx.io.err(`  ${m.detector}: ${(m.progress * 100).toFixed(0)} % (${f2(m.realTime_s, 1)} s)\n`));
  if (!r.ack.ok) throw new CustomsError('E_REFUSED', `node ${o.node} refused the capture: ${r.ack.reason ?? 'no reason given'}`);
  mkdirSync(o.out, { recursive: true });
  const files: AnalysisFile[] = [];
  for (const s of r.spectra) {
    if (s.error || !s.counts) throw new CustomsError('E_CAPTURE', `node ${o.node}, detector ${s.detector}: ${s.error ?? 'no counts'}`);
    files.push(saveCapture(o, s, s.counts));
  }
  ctx.print(!!o.json, files.map(({ results: _r, ...rest }) => rest), () =>
    files.map((f) => `${f.detector}: live ${f2(f.liveTime_s as number, 1)} s, ${f.totalCounts as number} counts -> ${join(o.out, `background-${o.node}-${f.detector}.n42`)} (+ .json for sign)`).join('\n'),
  );
}

/** Writes one detector's captured spectrum as N42 and its result file for `sign` (the node's reference spectrum). */
function saveCapture(o: BackgroundCli, s: SpectrumMsg, sCounts: number[]): AnalysisFile {
  const n42 = join(o.out, `background-${o.node}-${s.detector}.n42`);
  const counts = Float64Array.from(sCounts);
  writeAtomic(
    n42,
    writeN42({
      source: n42,
      format: 'N42-2012',
      detectors: [{ id: s.detector }],
      measurements: [{ id: `bg-${s.detector}`, startTime: new Date(s.ts - s.realTime_s * 1000).toISOString(), realTime_s: s.realTime_s, class: 'Background', spectra: [{ detector: s.detector, counts, liveTime_s: s.liveTime_s, realTime_s: s.realTime_s, ...(s.calibration ? { calibration: s.calibration as EnergyCalibration } : {}) }], grossCounts: [] }],
    }),
  );
  const result: AnalysisFile = {
    kind: 'background',
    detector: s.detector,
    inputs: [{ file: basename(n42), sha256: sha256(readFileSync(n42)) }],
    results: { referenceSpectrum: { counts: sCounts, liveTime_s: s.liveTime_s } },
    uncertainties: {},
    node: o.node,
    liveTime_s: s.liveTime_s,
    realTime_s: s.realTime_s,
    totalCounts: sCounts.reduce((a, b) => a + b, 0),
  };
  writeAtomic(join(o.out, `background-${o.node}-${s.detector}.json`), JSON.stringify(result, null, 2));
  return result;
}
