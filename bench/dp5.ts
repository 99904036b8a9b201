// Bench: the DP5 packet codec's throughput and the request-to-spectrum round trip of the real driver against the DP5 simulator over a socat pty.
//
//   npx tsx -e "import('./bench/dp5.ts').then(m=>m.benchDp5({quick:false},(n,v)=>console.log(n.padEnd(60),v)))"
//
// Codec: 1024- and 8192-channel spectrum+status replies, encoded and decoded in 4 KiB chunks as a port delivers
// them. Round trip: the driver's own requests (spectrum + status + clear) at rate_Hz 5 with 1024 channels; a pty
// ignores the baud rate, so this is the software's share of the latency, not the wire's (a 1024-channel reply
// takes 136 ms on the wire at 230400 baud, 273 ms at 115200).

import { DETECTORS } from '../analysis/radiation/dose.js';
import { straightPass } from '../analysis/radiation/sim/drive.js';
import type { ComponentContext } from '../contract/component.js';
import { SystemClock } from '../edge/runtime/clock.js';
import { EventEmitter } from 'node:events';
import { silentLogger } from '../common/log.js';
import { createDp5 } from '../devices/radiation/dp5.js';
import { Dp5Decoder, encodeSpectrumResponse, encodeStatus } from '../devices/radiation/dp5-protocol.js';
import { Dp5Simulator } from '../devices/radiation/dp5-simulator.js';
import { mulberry32 } from '../analysis/radiation/sim/scene.js';

function codec(channels: number, n: number, report: (name: string, value: string) => void): void {
  const rng = mulberry32(channels);
  const counts = Float64Array.from({ length: channels }, () => Math.floor(rng() * 100_000));
  const status = encodeStatus({ fastCount: 1e6, slowCount: 9e5, accumulationTime_s: 1, realTime_s: 1 });
  let t = performance.now();
  let packet = encodeSpectrumResponse(counts, status);
  for (let i = 1; i < n; i++) packet = encodeSpectrumResponse(counts, status);
  const enc_s = (performance.now() - t) / 1000;
  const stream = Buffer.concat(Array.from({ length: n }, () => packet));
  const dec = new Dp5Decoder();
  let got = 0;
  t = performance.now();
  for (let i = 0; i < stream.length; i += 4096) for (const e of dec.push(stream.subarray(i, i + 4096))) if (e.kind === 'packet') got++;
  const dec_s = (performance.now() - t) / 1000;
  if (got !== n) throw new Error(`bench dp5: decoded ${got} of ${n} packets`);
  report(`dp5 codec: encode ${channels}-channel spectrum+status (replies/s)`, (n / enc_s).toFixed(0));
  report(`dp5 codec: decode ${channels}-channel spectrum+status, 4 KiB chunks (replies/s)`, (n / dec_s).toFixed(0));
  report(`dp5 codec: decode throughput, ${channels} channels (MB/s)`, (stream.length / dec_s / 1e6).toFixed(1));
}

async function roundTrip(spectra: number, report: (name: string, value: string) => void): Promise<void> {
  const sim = new Dp5Simulator('sim', {
    pty: {},
    scene: { origin: { lat: 51.95, lon: 4.05 }, background: {}, sources: [{ nuclide: 'Cs137', activity_Bq: 1e8, position: { x_m: 0, y_m: 3, z_m: 1 } }] },
    detector: { id: 'g', model: DETECTORS['NaI-3x3']!, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: 1024, keVPerChannel: 3, deadTime_s: 5e-6 },
    trajectory: straightPass({ speed_m_s: 5, offset_m: 0, from_m: -500, to_m: 500 }),
    seed: 3,
  });
  await sim.start();
  const drv = createDp5({ name: 'g', type: 'dp5', options: { path: sim.hostPath, baudRate: 230400, detector: 'g', channels: 1024, rate_Hz: 5 } });
  // From the simulator reading the request (it then simulates, encodes and writes the reply) to the driver's spectrum event.
  const asked: number[] = [];
  const lat: number[] = [];
  sim.on('request', (kind) => {
    if (kind === 'spectrumStatusClear') asked.push(performance.now());
  });
  const done = new Promise<void>((resolve) => {
    drv.on('spectrum', () => {
      const a = asked.shift();
      if (a !== undefined) lat.push(performance.now() - a);
      if (lat.length >= spectra) resolve();
    });
  });
  const controller = new AbortController();
  const ctx: ComponentContext = {
    node: 'bench',
    site: 'bench',
    log: silentLogger,
    clock: new SystemClock({ trust: 'assume' }),
    signal: controller.signal,
    emit: async () => {},
    fail: (err) => {
      throw err;
    },
    bus: new EventEmitter(),
  };
  const t0 = performance.now();
  await drv.start(ctx);
  await done;
  const elapsed_s = (performance.now() - t0) / 1000;
  await drv.stop();
  await sim.stop();
  lat.sort((a, b) => a - b);
  report('dp5 over pty: spectra per second at rate_Hz 5, 1024 channels', (spectra / elapsed_s).toFixed(2));
  report('dp5 over pty: request at the simulator -> driver spectrum event, median (ms)', lat[Math.floor(lat.length / 2)]!.toFixed(1));
  report('dp5 over pty: request at the simulator -> driver spectrum event, p95 (ms)', lat[Math.floor(lat.length * 0.95)]!.toFixed(1));
}

export async function benchDp5(opts: { quick: boolean }, report: (name: string, value: string) => void): Promise<void> {
  codec(1024, opts.quick ? 500 : 5000, report);
  codec(8192, opts.quick ? 100 : 1000, report);
  await roundTrip(opts.quick ? 10 : 50, report);
}
