// SystemClock trust rules (assume, never, gps, ntp, the 2020 floor), the monotonic offset and bootId.
import t from 'tap';
import { SystemClock, bootId, systemNtpSynchronized, EARLIEST_PLAUSIBLE_MS } from '../../edge/runtime/clock.js';

const Y2024 = Date.UTC(2024, 5, 1, 12);

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

t.test('assume: trusted from the start, but never with a wall clock before 2020', async (t) => {
  let wall = 0;
  const c = new SystemClock({ trust: 'assume', wallNow: () => wall, monoNow: () => 5 });
  t.same(c.now(), { ts: 0, tsTrusted: false, mono_ms: 5 }, 'an RTC-less box that booted in 1970');
  t.equal(c.trusted, false);
  wall = EARLIEST_PLAUSIBLE_MS - 1;
  t.equal(c.now().tsTrusted, false, 'one ms before 2020 is still not plausible');
  wall = EARLIEST_PLAUSIBLE_MS;
  t.equal(c.now().tsTrusted, true);
  wall = Y2024;
  t.equal(c.trusted, true);
});

t.test('never: no source can make the clock trusted', async (t) => {
  const c = new SystemClock({ trust: 'never', wallNow: () => Y2024 });
  for (const s of ['gps', 'ntp', 'assume'] as const) c.markTrusted(s);
  t.equal(c.now().tsTrusted, false);
  t.equal(c.trusted, false);
  t.equal(await c.refresh(), false);
});

t.test('gps: trusted only after markTrusted("gps"), and only with a plausible wall clock', async (t) => {
  let wall = Y2024;
  const c = new SystemClock({ trust: 'gps', wallNow: () => wall, ntpCheck: async () => true });
  t.equal(c.now().tsTrusted, false, 'untrusted before a fix');
  c.markTrusted('ntp');
  c.markTrusted('assume');
  await settle();
  t.equal(c.now().tsTrusted, false, 'other sources do not count when gps was configured');
  c.markTrusted('gps');
  t.equal(c.now().tsTrusted, true);
  wall = 86_400_000;
  t.equal(c.now().tsTrusted, false, 'the 2020 floor wins over the GPS mark');
  wall = Y2024 + 1000;
  t.equal(c.now().tsTrusted, true, 'and the mark is sticky for this boot');
});

t.test('ntp: checked in the background from now(), at most every 60 s, never blocking', async (t) => {
  let mono = 0;
  const answers = [false, true];
  let checks = 0;
  const c = new SystemClock({
    trust: 'ntp',
    wallNow: () => Y2024,
    monoNow: () => mono,
    ntpCheck: async () => answers[checks++] ?? true,
  });
  t.equal(c.now().tsTrusted, false, 'the first reading does not wait for the check');
  c.now();
  await settle();
  t.equal(checks, 1, 'now() started one check');
  t.equal(checks, 1, 'no second check while one ran recently');
  mono = 59_999;
  c.now();
  await settle();
  t.equal(checks, 1, 'not before 60 s');
  t.equal(c.now().tsTrusted, false, 'the first check said not synchronised');
  mono = 60_000;
  t.equal(c.now().tsTrusted, false);
  await settle();
  t.equal(checks, 2);
  t.equal(c.now().tsTrusted, true, 'trusted once a check said synchronised');
  mono = 500_000;
  c.now();
  await settle();
  t.equal(checks, 2, 'no more checks once trusted');
});

t.test('ntp: a check that hangs does not block now(); one that fails leaves the clock untrusted', async (t) => {
  const hanging = new SystemClock({ trust: 'ntp', wallNow: () => Y2024, ntpCheck: () => new Promise<boolean>(() => {}) });
  const started = performance.now();
  for (let i = 0; i < 1000; i++) hanging.now();
  t.ok(performance.now() - started < 500, 'a thousand readings return at once');
  t.equal(hanging.now().tsTrusted, false);

  let mono = 0;
  let calls = 0;
  const failing = new SystemClock({
    trust: 'ntp',
    wallNow: () => Y2024,
    monoNow: () => mono,
    ntpCheck: () => {
      calls++;
      if (calls === 1) throw new Error('timedatectl not found');
      return Promise.reject(new Error('dbus timeout'));
    },
  });
  t.equal(failing.now().tsTrusted, false);
  await settle();
  mono = 60_000;
  t.equal(failing.now().tsTrusted, false);
  await settle();
  t.equal(calls, 2, 'a failed check is retried after the interval');
  t.equal(await failing.refresh(), false);
});

t.test('ntp: refresh() awaits a check; markTrusted("ntp") also counts', async (t) => {
  const c = new SystemClock({ trust: 'ntp', wallNow: () => Y2024, ntpCheck: async () => true });
  t.equal(await c.refresh(), true);
  t.equal(c.now().tsTrusted, true);
  const early = new SystemClock({ trust: 'ntp', wallNow: () => 1000, ntpCheck: async () => true });
  t.equal(await early.refresh(), false, 'NTP says synchronised but the wall clock says 1970');
  const marked = new SystemClock({ trust: 'ntp', wallNow: () => Y2024, ntpCheck: async () => false });
  marked.markTrusted('gps');
  t.equal(marked.trusted, false);
  marked.markTrusted('ntp');
  t.equal(marked.trusted, true);
});

t.test('readings: integer ts, monotonic offset from construction by default', async (t) => {
  const c = new SystemClock({ trust: 'assume', wallNow: () => Y2024 + 0.7 });
  const a = c.now();
  t.ok(Number.isInteger(a.ts), 'ts is an integer, as the envelope schema requires');
  t.equal(a.ts, Y2024);
  t.ok(a.mono_ms >= 0 && a.mono_ms < 1000, `mono starts near 0 (${a.mono_ms})`);
  await new Promise((r) => setTimeout(r, 20));
  const b = c.now();
  t.ok(b.mono_ms - a.mono_ms >= 15, 'mono advances with real time');
  const real = new SystemClock({ trust: 'assume' });
  t.ok(Math.abs(real.now().ts - Date.now()) < 1000, 'default wall clock is Date.now');
});

t.test('systemNtpSynchronized answers with a boolean on this machine', async (t) => {
  const v = await systemNtpSynchronized();
  t.type(v, 'boolean');
});

t.test('bootId: 16 lower-case hex characters, different every call', async (t) => {
  const ids = new Set(Array.from({ length: 100 }, () => bootId()));
  t.equal(ids.size, 100);
  for (const id of ids) t.match(id, /^[0-9a-f]{16}$/);
});
