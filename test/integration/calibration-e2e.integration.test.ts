// Calibrate, sign, push to a running node over a real Mosquitto: the node applies it, its status shows the version,
// its alarm identification goes from wrong to right; tampered, untrusted and expired records are refused; rollback;
// restart keeps the record; a background capture comes back over MQTT.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decode, type AlarmMsg, type AckMsg } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { runCli } from '../../calibration/cli.js';
import { newRecord, signRecord } from '../../protocol/calibration-record.js';
import { generateSigningKey } from '../../protocol/index.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

const TRUE_CAL = { coefficients: [-8, 2.6, 1.5e-4] };
/** What the spectrometer firmware believes: 15 % off at 662 keV, so Cs-137 shows at about 760 keV. */
const DEVICE_CAL = { coefficients: [0, 3.0] };
const N = 1024;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

t.test('calibration end to end over MQTT', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const dir = tempDir('calib-e2e');
  const keys = join(dir, 'keys');
  const store = join(dir, 'store');
  t.equal((await cli(['keygen', '--technician', 'Tech One', '--out', keys])).code, 0, 'keygen');
  const trustedPub = readFileSync(join(keys, 'tech-one.pub'), 'utf8');
  const rogue = generateSigningKey();
  writeFileSync(join(keys, 'rogue.key'), rogue.privateKeyPem);

  const makeRuntime = (): EdgeRuntime =>
    new EdgeRuntime({
      config: parseEdgeConfig('test', {
        node: 'veh-07',
        site: 'port-a',
        role: 'vehicle',
        broker: { url },
        outbox: { dir: join(dir, 'outbox'), cloudAck: false },
        clock: { trust: 'assume' },
        health: { heartbeat_s: 0.5 },
        pipelines: [
          { name: 'rad', type: 'radiation', options: { detectors: [{ id: 'det-a', model: 'NaI-3x3' }], interval_s: 1, gainStabilisation: false } },
          { name: 'calib', type: 'calibration', options: { trustedKeys: { 'tech-one': join(keys, 'tech-one.pub') }, dir: join(dir, 'calib'), detectors: ['det-a'] } },
        ],
      }),
    });
  let rt = makeRuntime();
  await rt.start();
  t.teardown(() => rt.stop());

  const sub = await mqtt.connectAsync(url, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/port-a/veh-07/+', { qos: 1 });
  const alarms: AlarmMsg[] = [];
  const acks: AckMsg[] = [];
  const rads: number[] = [];
  sub.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (d.ok && d.kind === 'rad') rads.push((d.msg as { gross_cps: number }).gross_cps);
    if (d.ok && d.kind === 'alarm') alarms.push(d.msg as AlarmMsg);
    if (d.ok && d.kind === 'ack') acks.push(d.msg as AckMsg);
  });

  // The detector: background rate and a Cs-137 source passing by, both through the true (quadratic) response.
  const bgRate = simulateCheckSource({ sources: [], calibration: TRUE_CAL, nChannels: N, liveTime_s: 1 }).expected;
  const csRate = simulateCheckSource({ sources: [{ nuclide: 'Cs137', activity_Bq: 1e7, distance_m: 1 }], calibration: TRUE_CAL, nChannels: N, liveTime_s: 1, background: false }).expected;
  let rng = mulberry32(11);
  let time_ms = Date.UTC(2026, 0, 10, 8);
  const feed = async (seconds: number, source: boolean): Promise<void> => {
    for (let s = 0; s < seconds; s++) {
      const counts = Float64Array.from(bgRate, (b, i) => poisson(rng, b + (source ? csRate[i]! : 0)));
      rt.bus.emit('spectrum', { detector: 'det-a', counts, liveTime_s: 1, realTime_s: 1, time_ms, calibration: DEVICE_CAL });
      time_ms += 1000;
      await new Promise((r) => setImmediate(r));
    }
  };
  const pass = async (seed: number): Promise<AlarmMsg> => {
    rng = mulberry32(seed);
    // The pipeline starts its background again when a calibration changes: give it a minute and a half. Its alarm
    // test may flag the change of windows itself; only alarms after the source comes count.
    await feed(90, false);
    await new Promise((r) => setTimeout(r, 1000));
    const before = alarms.length;
    await feed(8, true);
    await feed(12, false);
    await until('an alarm for the source pass', () => alarms.length > before, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; ${rads.length} rad summaries, last ${rads.slice(-30).map((x) => x.toFixed(0)).join(' ')}; alarms so far: ${JSON.stringify(alarms.map((a) => [a.alarmId, a.statistic, a.nuclides.map((n) => n.nuclide)]))}`);
    });
    return alarms[alarms.length - 1]!;
  };

  const before = await pass(11);
  t.not(before.nuclides[0]?.nuclide, 'Cs137', `with the device's wrong calibration Cs-137 is not identified (got ${JSON.stringify(before.nuclides.map((n) => n.nuclide))})`);

  // The technician measures check sources on this detector (its file carries the wrong device calibration).
  const check = simulateCheckSource({ sources: ['Am241', 'Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: TRUE_CAL, nChannels: N, liveTime_s: 3600, seed: 5 });
  const checkFile = join(dir, 'check.n42');
  writeFileSync(
    checkFile,
    writeN42({
      source: checkFile,
      format: 'N42-2012',
      detectors: [{ id: 'det-a' }],
      measurements: [{ id: 'check', startTime: '2026-01-10T07:00:00Z', realTime_s: 3620, class: 'Calibration', spectra: [{ detector: 'det-a', counts: check.counts, liveTime_s: 3600, realTime_s: 3620, calibration: DEVICE_CAL }], grossCounts: [] }],
    }),
  );
  const e = await cli(['energy', checkFile, '--source', 'Am241', '--source', 'Cs137', '--source', 'Co60', '--out', join(dir, 'energy.json'), '--json']);
  t.equal(e.code, 0, `energy: ${e.err}`);
  const res = await cli(['resolution', checkFile, '--source', 'Am241', '--source', 'Cs137', '--source', 'Co60', '--out', join(dir, 'res.json')]);
  t.equal(res.code, 0, `resolution: ${res.err}`);
  const rec1 = join(dir, 'rec1.json');
  const s1 = await cli(['sign', join(dir, 'energy.json'), join(dir, 'res.json'), '--key', join(keys, 'tech-one.key'), '--technician', 'Tech One', '--record-version', '1', '--out', rec1]);
  t.equal(s1.code, 0, `sign: ${s1.err}`);
  const net = ['--node', 'veh-07', '--site', 'port-a', '--broker', url, '--store', store, '--timeout', '20'];
  const p1 = await cli(['push', rec1, ...net, '--json']);
  t.equal(p1.code, 0, `push: ${p1.err}`);
  const p1j = JSON.parse(p1.out) as { ok: boolean; version: string; status: Record<string, string> | null };
  t.equal(p1j.ok, true, 'the node acknowledged');
  t.equal(p1j.version, 'det-a@1');
  await until('status with det-a@1', () => rt.status(true).calibration?.['det-a'] === 'det-a@1', 10_000);
  t.equal(rt.status(true).calibration?.['det-a'], 'det-a@1', 'status reports the new version (radiation pipeline and calibration store)');
  t.equal(p1j.status?.['det-a'], 'det-a@1', 'the status the node published over MQTT shows it too');

  // Applied live, without a restart: the next pass is identified right.
  const live = await pass(7);
  t.equal(live.nuclides[0]?.nuclide, 'Cs137', `right after the live change Cs-137 is identified (got ${JSON.stringify(live.nuclides.map((n) => n.nuclide))})`);

  // Restart: the record comes back from disk, and the retained command does not change it.
  await rt.stop();
  const acksBefore = acks.length;
  rt = makeRuntime();
  await rt.start();
  t.equal(rt.status(true).calibration?.['det-a'], 'det-a@1', 'after a restart the stored calibration is active at once');
  await until('the retained command to be answered again', () => acks.length > acksBefore, 10_000);
  t.match(acks[acks.length - 1], { ok: true, reason: /already active/ }, `the retained command is idempotent (${JSON.stringify(acks[acks.length - 1])})`);


  const after = await pass(3);
  t.equal(after.nuclides[0]?.nuclide, 'Cs137', `after the restart Cs-137 is identified (got ${JSON.stringify(after.nuclides.map((n) => n.nuclide))})`);

  // Tampered: a coefficient changed after signing.
  const tampered = JSON.parse(readFileSync(rec1, 'utf8')) as { payload: { version: number; results: { energy: { coefficients: number[] } } } };
  tampered.payload.version = 2;
  tampered.payload.results.energy.coefficients[1] = 3.0;
  writeFileSync(join(dir, 'tampered.json'), JSON.stringify(tampered));
  const pt = await cli(['push', join(dir, 'tampered.json'), ...net, '--json']);
  t.equal(pt.code, 1, 'push of a tampered record exits 1');
  t.match(JSON.parse(pt.out), { ok: false, reason: /does not match the payload/ }, 'tampered record refused: signature');

  // Signed by a key the node does not trust.
  const rogueRec = join(dir, 'rogue.json');
  t.equal((await cli(['sign', join(dir, 'energy.json'), '--key', join(keys, 'rogue.key'), '--record-version', '2', '--out', rogueRec])).code, 0);
  const pr = await cli(['push', rogueRec, ...net, '--json']);
  t.equal(pr.code, 1);
  t.match(JSON.parse(pr.out), { ok: false, reason: /key "rogue", which this node does not trust/ }, 'untrusted key refused');

  // Expired: signed by the trusted key, but its validity ended.
  const techKey = readFileSync(join(keys, 'tech-one.key'), 'utf8');
  const old = newRecord({ detector: 'det-a', version: 5, method: ['energy'], inputs: [], results: { energy: { coefficients: [0, 3] } }, technician: 'Tech One', now_ms: Date.now() - 400 * 86_400_000, validDays: 365 });
  writeFileSync(join(dir, 'expired.json'), JSON.stringify(signRecord(old, techKey, 'tech-one')));
  const pe = await cli(['push', join(dir, 'expired.json'), ...net, '--json']);
  t.equal(pe.code, 1);
  t.match(JSON.parse(pe.out), { ok: false, reason: /expired/ }, 'expired record refused');
  t.equal(rt.status(true).calibration?.['det-a'], 'det-a@1', 'nothing refused was applied');

  // A version 2, then rollback to 1.
  const rec2 = join(dir, 'rec2.json');
  t.equal((await cli(['sign', join(dir, 'energy.json'), '--key', join(keys, 'tech-one.key'), '--node', 'veh-07', '--store', store, '--out', rec2])).code, 0, 'sign picks the next version from the store');
  const p2 = await cli(['push', rec2, ...net, '--json']);
  t.match(JSON.parse(p2.out), { ok: true, version: 'det-a@2' });
  const rb = await cli(['rollback', ...net, '--to', '1', '--key', join(keys, 'tech-one.key'), '--json']);
  t.equal(rb.code, 0, `rollback: ${rb.err}`);
  t.match(JSON.parse(rb.out), { ok: true, version: 'det-a@1' });
  await until('status back at det-a@1', () => rt.status(true).calibration?.['det-a'] === 'det-a@1', 10_000);
  const replay = await cli(['push', rec2, ...net, '--json']);
  t.match(JSON.parse(replay.out), { ok: false, reason: /not newer than 2/ }, 'the replaced version 2 cannot be replayed after the rollback');
  const hist = await cli(['history', '--node', 'veh-07', '--store', store, '--json']);
  const hj = JSON.parse(hist.out) as { history: { version: number; ok: boolean; action: string }[]; active: Record<string, string> };
  t.same(hj.history.map((h) => [h.action, h.version, h.ok]), [
    ['push', 1, true],
    ['push', 2, false],
    ['push', 2, false],
    ['push', 5, false],
    ['push', 2, true],
    ['rollback', 1, true],
    ['push', 2, false],
  ]);
  t.same(hj.active, { 'det-a': 'det-a@1' });
  const d = await cli(['diff', rec1, rec2, '--json']);
  t.equal(d.code, 0);
  t.ok((JSON.parse(d.out) as { changes: { field: string }[] }).changes.some((c) => c.field === 'resolution'), 'diff shows the resolution missing from version 2');

  // Background capture over MQTT while the node's detector keeps sending spectra.
  let feeding = true;
  const feeder = (async () => {
    while (feeding) {
      await feed(1, false);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const bgOut = join(dir, 'bg');
  mkdirSync(bgOut);
  const netNoStore = ['--node', 'veh-07', '--site', 'port-a', '--broker', url, '--timeout', '20'];
  const cap = await cli(['background', ...netNoStore, '--detector', 'det-a', '--duration', '30', '--key', join(keys, 'tech-one.key'), '--out', bgOut, '--json']);
  feeding = false;
  await feeder;
  t.equal(cap.code, 0, `background: ${cap.err}`);
  t.match(cap.err, /det-a: \d+ %/, 'progress on stderr');
  const bgFile = await readRadFile(join(bgOut, 'background-veh-07-det-a.n42'));
  const sp = bgFile.measurements[0]!.spectra[0]!;
  t.equal(sp.realTime_s, 30, '30 s of spectra summed');
  const expected = bgRate.reduce((a, b) => a + b, 0) * 30;
  const total = sp.counts.reduce((a, b) => a + b, 0);
  t.ok(Math.abs(total - expected) < 5 * Math.sqrt(expected), `counts ${total} vs expected ${expected.toFixed(0)}`);
  const badCap = await cli(['background', ...netNoStore, '--detector', 'det-z', '--duration', '5', '--key', join(keys, 'tech-one.key'), '--out', bgOut]);
  t.equal(badCap.code, 1);
  t.match(badCap.err, /det-z" is not on this node/, 'capture of an unknown detector refused with the reason');
});
