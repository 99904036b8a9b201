// Sysinfo samples: plausible values on this machine, CPU that follows a busy loop, a clear error for a bad path.
import t from 'tap';
import { rmSync, statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { createSysinfo } from '../../edge/runtime/sysinfo.js';
import { tempDir } from '../harness/services.js';

t.test('values are plausible for this machine', async (t) => {
  const dir = tempDir('sysinfo');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await createSysinfo({ diskPath: dir }).sample();
  t.ok(s.mem_rss_bytes > 10 * 1024 * 1024 && s.mem_rss_bytes < totalmem(), `rss ${s.mem_rss_bytes}`);
  t.ok(s.mem_free_bytes > 0 && s.mem_free_bytes <= totalmem(), `free ${s.mem_free_bytes}`);
  const fs = statfsSync(dir);
  const expected = fs.bavail * fs.bsize;
  // other processes write to the same disk meanwhile; 64 MiB is far below the size of any disk here
  t.ok(Math.abs(s.disk_free_bytes - expected) < 64 * 1024 * 1024, `disk ${s.disk_free_bytes} ≈ ${expected}`);
  t.ok(s.disk_free_bytes <= fs.blocks * fs.bsize);
  t.ok(s.uptime_s > 0 && s.uptime_s < 600, `uptime ${s.uptime_s}`);
  t.ok(s.cpu_pct >= 0 && s.cpu_pct < 800, `cpu ${s.cpu_pct}`);
  for (const v of Object.values(s)) t.ok(Number.isFinite(v));
});

t.test('cpu_pct rises under a busy loop and falls back when idle', async (t) => {
  const info = createSysinfo({ diskPath: '.' });
  await info.sample();
  await new Promise((r) => setTimeout(r, 200));
  const idle = await info.sample();
  // What the process really got (other test processes share the two cores, so a busy loop may get much less than
  // a whole core): the sample must agree with it, whatever it is.
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const until = w0 + 300;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  t.ok(x > 0);
  const busy = await info.sample();
  const c = process.cpuUsage(c0);
  const got = ((c.user + c.system) / 1000 / (performance.now() - w0)) * 100;
  t.ok(Math.abs(busy.cpu_pct - got) < Math.max(15, got * 0.3), `busy ${busy.cpu_pct.toFixed(1)}% of one core, the process got ${got.toFixed(1)}%`);
  t.ok(busy.cpu_pct > idle.cpu_pct, `busy ${busy.cpu_pct.toFixed(1)}% > idle ${idle.cpu_pct.toFixed(1)}%`);
  await new Promise((r) => setTimeout(r, 300));
  const after = await info.sample();
  t.ok(after.cpu_pct < busy.cpu_pct, `measured since the previous sample only (${after.cpu_pct.toFixed(1)}%)`);
});
