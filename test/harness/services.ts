// Starts real Mosquitto and InfluxDB processes from the system binaries on free loopback ports for tests and benches.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `customs-${prefix}-`));
}

async function waitForPort(port: number, timeoutMs: number, proc?: ChildProcess, what = 'service'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with code ${proc.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect({ port, host: '127.0.0.1' });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


async function stopProc(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
    }, 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill(signal);
  });
}

export interface MosquittoOptions {
  /** Extra lines appended to the generated mosquitto.conf (listeners, TLS, ACL). */
  extraConfig?: string;
  /** When set, the default plain listener is replaced by these lines entirely (use `${port}` placeholder). */
  listenerConfig?: string;
  port?: number;
}

export interface Service {
  port: number;
  dir: string;
  /** Stops the process (SIGTERM, then SIGKILL); the port and data directory stay reserved for `start()`. */
  stop(): Promise<void>;
  /** Kills with SIGKILL, like a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops and removes the data directory. */
  close(): Promise<void>;
  readonly running: boolean;
  /** Process id while running (benches read its CPU time from /proc). */
  readonly pid: number | undefined;
  log(): string;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Service> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('mosquitto');
  // Started as root, mosquitto drops to the `mosquitto` user before it opens its persistence file: without write
  // access here it silently keeps sessions in memory only, and a restart loses queued messages.
  chmodSync(dir, 0o777);
  const conf = join(dir, 'mosquitto.conf');
  const listener = (opts.listenerConfig ?? 'listener ${port} 127.0.0.1\nallow_anonymous true\n').replaceAll('${port}', String(port));
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'max_queued_messages 1000000',
      'max_inflight_messages 0',
      'max_packet_size 1048576',
      listener,
      opts.extraConfig ?? '',
    ].join('\n'),
  );
  let proc: ChildProcess | undefined;
  let logText = '';
  const svc: Service = {
    port,
    dir,
    get running() {
      return !!proc && proc.exitCode === null && proc.signalCode === null;
    },
    get pid() {
      return proc?.pid;
    },
    log: () => logText,
    async start() {
      proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr?.on('data', (d: Buffer) => {
        logText += d.toString();
        if (logText.length > 100_000) logText = logText.slice(-50_000);
      });
      await waitForPort(port, 10_000, proc, 'mosquitto');
    },
    async stop() {
      await stopProc(proc);
    },
    async kill() {
      await stopProc(proc, 'SIGKILL');
    },
    async close() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await svc.start();
  return svc;
}

export interface InfluxService extends Service {
  url: string;
}

export interface InfluxOptions {
  /** InfluxDB's [data] max-values-per-tag (its default is 100,000): small, to show what happens at the limit. */
  maxValuesPerTag?: number;
}

export async function startInflux(opts: InfluxOptions = {}): Promise<InfluxService> {
  const port = await freePort();
  const rpc = await freePort();
  const dir = tempDir('influx');
  for (const d of ['meta', 'data', 'wal']) mkdirSync(join(dir, d));
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-enabled = false
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
  logging-enabled = false
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
${opts.maxValuesPerTag !== undefined ? `  max-values-per-tag = ${opts.maxValuesPerTag}\n` : ''}[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`,
  );
  let proc: ChildProcess | undefined;
  let logText = '';
  const url = `http://127.0.0.1:${port}`;
  const svc: InfluxService = {
    port,
    dir,
    url,
    get running() {
      return !!proc && proc.exitCode === null && proc.signalCode === null;
    },
    get pid() {
      return proc?.pid;
    },
    log: () => logText,
    async start() {
      proc = spawn('influxd', ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr?.on('data', (d: Buffer) => {
        logText += d.toString();
        if (logText.length > 100_000) logText = logText.slice(-50_000);
      });
      await waitForPort(port, 30_000, proc, 'influxd');
      // The port opens before the HTTP handler is ready; /ping answers 204 once it is.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const r = await fetch(`${url}/ping`);
          if (r.status === 204) break;
        } catch {
          /* not yet */
        }
        if (Date.now() > deadline) throw new Error(`influxd on ${url} did not answer /ping`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await stopProc(proc);
    },
    async kill() {
      await stopProc(proc, 'SIGKILL');
    },
    async close() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await svc.start();
  return svc;
}

/** Runs an InfluxQL query over the v1 HTTP API and returns the parsed JSON results. */
export async function influxQuery(url: string, db: string, q: string): Promise<InfluxResult> {
  const r = await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
  if (!r.ok) throw new Error(`influx query failed ${r.status}: ${await r.text()}`);
  return (await r.json()) as InfluxResult;
}

export interface InfluxResult {
  results: { statement_id: number; error?: string; series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[];
}

/** Convenience: the single numeric value of a `SELECT count(...)`-style query, 0 when there are no rows. */
export async function influxScalar(url: string, db: string, q: string): Promise<number> {
  const res = await influxQuery(url, db, q);
  const first = res.results[0];
  if (first?.error) throw new Error(first.error);
  const v = first?.series?.[0]?.values?.[0]?.[1];
  return typeof v === 'number' ? v : 0;
}
