// The synthetic producer: count, schema-valid bodies of every kind, determinism, backpressure, stopping, bad options.
import t from 'tap';
import { createSynthetic } from '../../edge/pipelines/synthetic.js';
import { type Clock, type ComponentContext, type SummaryKind } from '../../contract/component.js';
import { createComponent } from '../../contract/registry.js';
import { registerPipelines } from '../../edge/pipelines/index.js';
import { silentLogger } from '../../common/log.js';
import { ConfigError } from '../../common/errors.js';
import { validate, type BodyOf } from '../../protocol/index.js';

interface Emitted {
  kind: SummaryKind;
  body: BodyOf<SummaryKind>;
}

const clock: Clock = { now: () => ({ ts: Date.now(), tsTrusted: true, mono_ms: performance.now() }), markTrusted: () => {}, trusted: true };

function fakeContext(opts: { emitDelay_ms?: number; reject?: (n: number) => Error | undefined } = {}) {
  const controller = new AbortController();
  const out: Emitted[] = [];
  const failures: Error[] = [];
  const positions: { lat: number; lon: number }[] = [];
  let inflight = 0;
  let maxInflight = 0;
  let calls = 0;
  const ctx: ComponentContext = {
    node: 'veh-01',
    site: 'rotterdam',
    log: silentLogger,
    clock,
    signal: controller.signal,
    async emit(kind, body) {
      calls++;
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      try {
        if (opts.emitDelay_ms) await new Promise((r) => setTimeout(r, opts.emitDelay_ms));
        const err = opts.reject?.(calls);
        if (err) throw err;
        out.push({ kind, body: structuredClone(body) });
      } finally {
        inflight--;
      }
    },
    fail: (err) => void failures.push(err),
    setPosition: (p) => void positions.push(p),
  };
  return { ctx, controller, out, failures, positions, maxInflight: () => maxInflight };
}

async function until(cond: () => boolean, timeout_ms = 10_000): Promise<void> {
  const end = Date.now() + timeout_ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function withEnvelope(body: object, seq: number): object {
  return { v: 1, node: 'veh-01', site: 'rotterdam', boot: '00112233aabbccdd', seq, ts: 1_717_243_200_000 + seq, tsTrusted: true, mono_ms: seq, ...body };
}

t.test('emits exactly `count` summaries, every one valid against the protocol schemas', async (t) => {
  const syn = createSynthetic({
    name: 'syn',
    type: 'synthetic',
    options: { rate_hz: 1000, count: 25, seed: 7, alarmEvery: 4, kinds: ['rad', 'alarm', 'source', 'xray', 'event'] },
  });
  const f = fakeContext();
  await syn.start(f.ctx);
  await until(() => syn.emitted() === 25);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(f.out.length, 25, 'no more after count');
  t.equal(syn.emitted(), 25);
  f.out.forEach((m, i) => {
    const r = validate(m.kind, withEnvelope(m.body, i));
    t.ok(r.ok, `#${i} ${m.kind} valid${r.ok ? '' : `: ${r.errors.join('; ')}`}`);
  });
  const kinds = f.out.map((m) => m.kind);
  t.same(kinds.slice(0, 8), ['rad', 'alarm', 'source', 'alarm', 'xray', 'event', 'rad', 'alarm'], 'every 4th is an alarm, the rest cycle');
  t.equal(kinds.filter((k) => k === 'alarm').length, 6 + 4, 'six scheduled alarms (every 4th of 25) plus four of the 19 cycled');
  for (const k of ['rad', 'source', 'xray', 'event'] as const) t.ok(kinds.includes(k), `${k} emitted`);
  t.ok(f.positions.length > 0, 'position shared with the status message');
  await syn.stop();
  t.same(f.failures, []);
});

t.test('default options: 1 Hz rad summaries with plausible values; stop() does not wait for the next tick', async (t) => {
  registerPipelines();
  const syn = await createComponent({ name: 'rad-demo', type: 'synthetic' });
  t.equal(syn.kind, 'pipeline');
  const f = fakeContext();
  await syn.start(f.ctx);
  await until(() => f.out.length === 1);
  const started = performance.now();
  await syn.stop();
  t.ok(performance.now() - started < 200, 'stop() resolves at once, not after the 1 s period');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(f.out.length, 1);
  const m = f.out[0]!;
  t.equal(m.kind, 'rad');
  const rad = m.body as BodyOf<'rad'>;
  t.equal(rad.live_s, 1);
  t.equal(rad.detectors.length, 4);
  t.ok(rad.gross_cps > 650 && rad.gross_cps < 950, `gross ${rad.gross_cps} cps ≈ 4 × 200`);
  t.ok(rad.doseRate_uSv_h! > 0.06 && rad.doseRate_uSv_h! < 0.1, `dose ${rad.doseRate_uSv_h} µSv/h`);
  const p = rad.position!;
  const dist_m = Math.hypot((p.lat - 51.95) * 111_320, (p.lon - 4.05) * 111_320 * Math.cos((51.95 * Math.PI) / 180));
  t.ok(dist_m > 200 && dist_m < 300, `vehicle on its loop ${dist_m.toFixed(0)} m from the origin`);
});

t.test('count rates average the background over many summaries (Poisson, not constant)', async (t) => {
  const syn = createSynthetic({ name: 'stats', type: 'synthetic', options: { rate_hz: 1000, count: 1500, seed: 99, detectors: 2 } });
  const f = fakeContext();
  await syn.start(f.ctx);
  await until(() => syn.emitted() === 1500, 30_000);
  await syn.stop();
  const cps = f.out.flatMap((m) => (m.body as BodyOf<'rad'>).detectors.map((d) => d.cps));
  const mean = cps.reduce((a, b) => a + b, 0) / cps.length;
  // detectors at 0.5 and 2 m: expected mean 200·(1.1 − 0.125) = 195 cps
  t.ok(Math.abs(mean - 195) < 20, `mean ${mean.toFixed(1)} cps`);
  t.ok(new Set(cps).size > 3, 'rates vary from summary to summary');
});

t.test('deterministic with a seed', async (t) => {
  const run = async (seed: number) => {
    const syn = createSynthetic({ name: 'det', type: 'synthetic', options: { rate_hz: 1000, count: 12, seed, alarmEvery: 3, kinds: ['rad', 'xray', 'event', 'source'] } });
    const f = fakeContext();
    await syn.start(f.ctx);
    await until(() => syn.emitted() === 12);
    await syn.stop();
    return f.out;
  };
  const a = await run(1234);
  const b = await run(1234);
  const c = await run(4321);
  t.equal(a.length, 12);
  t.same(a, b, 'same seed, same summaries');
  t.notSame(a, c, 'another seed, other summaries');
});

t.test('awaits each emit before the next (backpressure)', async (t) => {
  const syn = createSynthetic({ name: 'bp', type: 'synthetic', options: { rate_hz: 1000, count: 8, seed: 1 } });
  const f = fakeContext({ emitDelay_ms: 25 });
  const started = performance.now();
  await syn.start(f.ctx);
  await until(() => syn.emitted() === 8);
  t.equal(f.maxInflight(), 1, 'never two emits in flight');
  t.ok(performance.now() - started >= 8 * 25 - 5, 'slowed to the pace of the outbox');
  await syn.stop();
});

t.test('stops emitting when the context signal is aborted; restarts continue the count', async (t) => {
  const syn = createSynthetic({ name: 'ab', type: 'synthetic', options: { rate_hz: 200, count: 30, seed: 3 } });
  const f = fakeContext();
  await syn.start(f.ctx);
  await until(() => syn.emitted() >= 3);
  f.controller.abort();
  await new Promise((r) => setTimeout(r, 30));
  const n = syn.emitted();
  await new Promise((r) => setTimeout(r, 60));
  t.equal(syn.emitted(), n, 'nothing emitted after abort');
  t.ok(n < 30);
  await syn.stop();
  const g = fakeContext();
  await syn.start(g.ctx);
  await until(() => syn.emitted() === 30);
  await new Promise((r) => setTimeout(r, 30));
  t.equal(f.out.length + g.out.length, 30, 'count is the total over both runs');
  await syn.stop();
});

t.test('a rejected emit is reported with ctx.fail, but not once stopping', async (t) => {
  const syn = createSynthetic({ name: 'rej', type: 'synthetic', options: { rate_hz: 1000, seed: 5 } });
  const f = fakeContext({ reject: (n) => (n === 3 ? new Error('outbox full') : undefined) });
  await syn.start(f.ctx);
  await until(() => f.failures.length === 1);
  t.equal(f.failures[0]?.message, 'outbox full');
  t.equal(syn.emitted(), 2);
  await syn.stop();

  let stopping = false;
  const g = fakeContext({ emitDelay_ms: 20, reject: () => (stopping ? new Error('outbox closed') : undefined) });
  await syn.start(g.ctx);
  await new Promise((r) => setTimeout(r, 5));
  stopping = true;
  await syn.stop();
  t.same(g.failures, [], 'an emit refused during shutdown is not a crash');
});

t.test('bad options throw a ConfigError naming pipelines/<name>/options/<field>', async (t) => {
  const err = thrown(() =>
    createSynthetic({
      name: 'bad',
      type: 'synthetic',
      options: { rate_hz: 0, detectors: 'four', kinds: ['rad', 'gamma'], origin: { lat: 123, lon: 4 }, colour: 'red', count: -1 },
    }),
  );
  t.ok(err instanceof ConfigError, 'a ConfigError');
  const problems = (err as ConfigError).problems;
  t.same([...problems].sort(), [
    'pipelines/bad/options/colour: unexpected property',
    'pipelines/bad/options/count: must be >= 0',
    'pipelines/bad/options/detectors: must be integer',
    'pipelines/bad/options/kinds/1: expected one of ["rad","alarm","source","xray","event"]',
    'pipelines/bad/options/origin/lat: must be <= 90',
    'pipelines/bad/options/rate_hz: must be > 0',
  ]);
  t.equal((err as ConfigError).code, 'E_CONFIG');
  t.match((err as Error).message, /component "bad" \(synthetic\): invalid configuration/);
  t.same((thrown(() => createSynthetic({ name: 'k', type: 'synthetic', options: { kinds: [] } })) as ConfigError).problems, [
    'pipelines/k/options/kinds: must NOT have fewer than 1 items',
  ]);
  const spec = { name: 'x', type: 'synthetic', options: { rate_hz: 5 } };
  createSynthetic(spec);
  t.same(spec.options, { rate_hz: 5 }, 'defaults are filled in a copy, the spec is left as given');
});
