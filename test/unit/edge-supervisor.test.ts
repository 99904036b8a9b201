// Supervisor: crash handling, capped backoff, reset after a healthy run and clean stop, driven by a fake clock.
import t from 'tap';
import { Supervisor, type ContextBase, type Timers } from '../../edge/runtime/supervisor.js';
import type { Clock, Component, ComponentContext } from '../../contract/component.js';
import { silentLogger } from '../../common/log.js';
import { validate } from '../../protocol/index.js';

/** Lets promise chains and the supervisor's async steps settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

class FakeTimers implements Timers {
  t = 0;
  /** Every delay ever scheduled, in order. */
  readonly scheduled: number[] = [];
  private queue: { id: number; at: number; fn: () => void }[] = [];
  private nextId = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.scheduled.push(ms);
    this.queue.push({ id, at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((q) => q.id !== handle);
  }
  now(): number {
    return this.t;
  }
  get pending(): number {
    return this.queue.length;
  }
  /** Moves time forward, firing due timers in order and letting async work run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      this.queue.sort((a, b) => a.at - b.at);
      const due = this.queue[0];
      if (!due || due.at > end) break;
      this.queue.shift();
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

/** A component whose start() runs `behaviour(startNumber, ctx)`; it records starts, stops and contexts. */
class TestComponent implements Component {
  readonly kind: 'device' | 'pipeline' = 'device';
  starts = 0;
  stops = 0;
  contexts: ComponentContext[] = [];
  constructor(
    readonly name: string,
    private readonly behaviour: (n: number, ctx: ComponentContext) => void | Promise<void> = () => {},
    private readonly onStop: () => void | Promise<void> = () => {},
  ) {}
  async start(ctx: ComponentContext): Promise<void> {
    this.starts++;
    this.contexts.push(ctx);
    await this.behaviour(this.starts, ctx);
  }
  async stop(): Promise<void> {
    this.stops++;
    await this.onStop();
  }
  get ctx(): ComponentContext {
    const c = this.contexts.at(-1);
    if (!c) throw new Error('never started');
    return c;
  }
}

const clock: Clock = { now: () => ({ ts: 0, tsTrusted: false, mono_ms: 0 }), markTrusted: () => {}, trusted: false };

function setup(backoff?: ConstructorParameters<typeof Supervisor>[0]['backoff']) {
  const timers = new FakeTimers();
  const emitted: string[] = [];
  const makeContext = (c: Component): ContextBase => ({
    node: 'n1',
    site: 's1',
    log: silentLogger,
    clock,
    emit: async (kind) => {
      emitted.push(`${c.name}:${kind}`);
    },
  });
  const sup = new Supervisor({ log: silentLogger, makeContext, timers, backoff });
  return { sup, timers, emitted };
}

t.test('a component that fails to start twice is restarted after 500 then 1000 ms and ends up running', async (t) => {
  const { sup, timers } = setup();
  const flaky = new TestComponent('gps', (n) => {
    if (n <= 2) throw new Error(`port busy #${n}`);
  });
  sup.add(flaky);
  const states: string[] = [];
  sup.on('state', (s) => states.push(`${s.name}:${s.state}`));
  await sup.start();
  t.equal(sup.statuses().gps?.state, 'backoff');
  t.same(timers.scheduled, [500]);
  await timers.advance(499);
  t.equal(flaky.starts, 1, 'no restart before the delay is over');
  await timers.advance(1);
  t.equal(flaky.starts, 2);
  t.same(timers.scheduled, [500, 1000]);
  await timers.advance(1000);
  t.equal(flaky.starts, 3);
  t.same(sup.statuses(), { gps: { kind: 'device', state: 'running', restarts: 2, lastError: 'port busy #2' } });
  t.equal(flaky.stops, 2, 'each failed start was followed by stop() to release what it held');
  t.same(states, [
    'gps:starting', 'gps:failed', 'gps:backoff',
    'gps:starting', 'gps:failed', 'gps:backoff',
    'gps:starting', 'gps:running',
  ]);
  await sup.stop();
  t.equal(sup.statuses().gps?.state, 'stopped');
  t.equal(flaky.stops, 3);
});

t.test('ctx.fail stops the component, aborts its signal and restarts it with a fresh signal', async (t) => {
  const { sup, timers, emitted } = setup();
  const c = new TestComponent('spectro');
  sup.add(c);
  await sup.start();
  const first = c.ctx;
  t.equal(sup.statuses().spectro?.state, 'running');
  await first.emit('rad', { live_s: 1, gross_cps: 1, detectors: [] });
  t.same(emitted, ['spectro:rad'], 'emit goes through to the runtime');
  first.fail(new Error('serial port vanished'));
  first.fail(new Error('second report of the same crash'));
  t.equal(first.signal.aborted, true);
  await settle();
  t.equal(c.stops, 1, 'one crash, one stop, however often fail() is called');
  t.same(timers.scheduled, [500]);
  await timers.advance(500);
  t.equal(c.starts, 2);
  t.not(c.ctx, first);
  t.equal(c.ctx.signal.aborted, false);
  first.fail(new Error('stale'));
  await settle();
  t.equal(sup.statuses().spectro?.state, 'running', 'fail() from a previous run is ignored');
  t.same(sup.statuses().spectro, { kind: 'device', state: 'running', restarts: 1, lastError: 'serial port vanished' });
  await sup.stop();
});

t.test('fail() during start ends that start; the component is restarted once', async (t) => {
  const { sup, timers } = setup();
  const c = new TestComponent('cam', async (n, ctx) => {
    if (n === 1) ctx.fail(new Error('stream died while opening'));
  });
  sup.add(c);
  await sup.start();
  await settle();
  t.equal(sup.statuses().cam?.state, 'backoff');
  t.equal(c.stops, 1);
  await timers.advance(500);
  t.equal(sup.statuses().cam?.state, 'running');
  t.equal(c.starts, 2);
  await sup.stop();
});

t.test('a component failing on every start backs off up to the cap while the others keep running', async (t) => {
  const { sup, timers } = setup();
  const steady = new TestComponent('steady');
  const broken = new TestComponent('broken', () => {
    throw new Error('no device');
  });
  const after = new TestComponent('after');
  sup.add(steady);
  sup.add(broken);
  sup.add(after);
  await sup.start();
  t.equal(after.starts, 1, 'a failing component does not prevent the next one from starting');
  await timers.advance(200_000);
  t.same(timers.scheduled.slice(0, 9), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  t.ok(timers.scheduled.every((d) => d <= 30000), 'never beyond max_ms');
  t.equal(broken.starts, timers.scheduled.length, 'one start per scheduled retry, the last still pending');
  t.equal(sup.statuses().broken?.restarts, broken.starts - 1);
  for (const c of [steady, after]) {
    t.equal(c.starts, 1, `${c.name} started once`);
    t.equal(c.stops, 0, `${c.name} never stopped`);
    t.equal(c.ctx.signal.aborted, false);
    t.equal(sup.statuses()[c.name]?.state, 'running');
  }
  await sup.stop();
});

t.test('backoff respects custom options and resets after a healthy period', async (t) => {
  const { sup, timers } = setup({ initial_ms: 100, factor: 3, max_ms: 1000, resetAfter_ms: 5000 });
  const c = new TestComponent('gm');
  sup.add(c);
  await sup.start();
  c.ctx.fail(new Error('a'));
  await timers.advance(100);
  c.ctx.fail(new Error('b'));
  await timers.advance(300);
  c.ctx.fail(new Error('c'));
  await timers.advance(900);
  t.same(timers.scheduled, [100, 300, 900]);
  await timers.advance(4999);
  c.ctx.fail(new Error('d'));
  await timers.advance(1000);
  t.same(timers.scheduled, [100, 300, 900, 1000], 'ran 4999 ms: not long enough to reset, capped at max_ms');
  await timers.advance(5000);
  c.ctx.fail(new Error('e'));
  await settle();
  t.same(timers.scheduled, [100, 300, 900, 1000, 100], 'ran 5000 ms healthy: back to initial_ms');
  t.equal(sup.statuses().gm?.restarts, 4);
  await sup.stop();
});

t.test('stop() during backoff cancels the pending retry', async (t) => {
  const { sup, timers } = setup();
  const c = new TestComponent('xray', () => {
    throw new Error('scanner offline');
  });
  sup.add(c);
  await sup.start();
  t.equal(timers.pending, 1);
  await sup.stop();
  t.equal(timers.pending, 0, 'retry timer cleared');
  await timers.advance(60_000);
  t.equal(c.starts, 1, 'never restarted after stop()');
  t.equal(c.stops, 1, 'stopped once (after the failed start), not again by stop()');
  t.same(sup.statuses().xray, { kind: 'device', state: 'stopped', restarts: 0, lastError: 'scanner offline' });
});

t.test('stop() while a crash is being handled waits for it and schedules no retry', async (t) => {
  const { sup, timers } = setup();
  let releaseStop!: () => void;
  const c = new TestComponent('slow', undefined, () => new Promise<void>((r) => (releaseStop = r)));
  sup.add(c);
  await sup.start();
  c.ctx.fail(new Error('boom'));
  await settle();
  t.equal(sup.statuses().slow?.state, 'failed', 'failed while its stop() runs');
  const stopping = sup.stop();
  releaseStop();
  await stopping;
  t.equal(c.stops, 1, 'stop() not called a second time');
  t.equal(timers.pending, 0);
  t.equal(sup.statuses().slow?.state, 'stopped');
});

t.test('stop() stops in reverse order, aborts signals, removes listeners; ctx.fail afterwards is ignored', async (t) => {
  const { sup, timers } = setup();
  const order: string[] = [];
  const comps = ['gps', 'spectro', 'radiation'].map((n) => new TestComponent(n, undefined, () => void order.push(n)));
  for (const c of comps) sup.add(c);
  sup.on('state', () => {});
  await sup.start();
  await sup.stop();
  t.same(order, ['radiation', 'spectro', 'gps']);
  for (const c of comps) t.equal(c.ctx.signal.aborted, true, `${c.name} signal aborted`);
  t.equal(sup.listenerCount('state'), 0);
  comps[0]!.ctx.fail(new Error('late'));
  await settle();
  t.equal(timers.pending, 0, 'no retry scheduled');
  t.equal(comps[0]!.stops, 1);
  t.equal(sup.statuses().gps?.state, 'stopped');
  t.equal(sup.statuses().gps?.lastError, undefined);
  await sup.stop();
  t.equal(comps[0]!.stops, 1, 'a second stop() is a no-op');
});

t.test('a stop() that throws during crash handling is ignored and the component still restarts', async (t) => {
  const { sup, timers } = setup();
  const c = new TestComponent('gps', undefined, () => {
    throw new Error('close failed');
  });
  sup.add(c);
  await sup.start();
  c.ctx.fail(new Error('fix lost'));
  await timers.advance(500);
  t.equal(c.starts, 2);
  t.equal(sup.statuses().gps?.state, 'running');
  await sup.stop();
  t.equal(sup.statuses().gps?.state, 'stopped');
});

t.test('misuse is refused with a clear error; long errors are cut to fit the status schema', async (t) => {
  const { sup } = setup();
  sup.add(new TestComponent('a', () => {
    throw new Error('x'.repeat(5000));
  }));
  t.throws(() => sup.add(new TestComponent('a')), { code: 'E_SUPERVISOR', message: /"a" is already used/ });
  await sup.start();
  t.throws(() => sup.add(new TestComponent('b')), { code: 'E_SUPERVISOR', message: /after start/ });
  await t.rejects(sup.start(), { code: 'E_SUPERVISOR' });
  const status = {
    v: 1, node: 'n1', site: 's1', boot: '0123456789abcdef', seq: 0, ts: 1_700_000_000_000, tsTrusted: true, mono_ms: 0,
    role: 'vehicle', online: true, version: '0.1.0', uptime_s: 1, components: sup.statuses(),
  };
  const r = validate('status', status);
  t.ok(r.ok, r.ok ? 'statuses() fits StatusMsg.components' : r.errors.join('; '));
  t.equal(sup.statuses().a?.lastError?.length, 1024);
  await sup.stop();
});
