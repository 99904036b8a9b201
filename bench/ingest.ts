// Bench: aggregator ingest (MQTT -> spool -> InfluxDB) end to end, the direct-write ceiling, and latency at 1,000 msg/s.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect, type Socket } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { toLines } from '../cloud/points.js';
import { dataTopic, type AnyMessage, type Kind } from '../protocol/index.js';
import { influxQuery, startInflux, startMosquitto, tempDir, type InfluxService } from '../test/harness/services.js';

export interface IngestBench {
  /** Messages per second from the first publish until the last point is queryable in InfluxDB. */
  endToEnd_msg_s: number;
  /** The same points written straight to InfluxDB in the same batch size, one write at a time (msg/s; one point per message). */
  direct_points_s: number;
  /** 99th percentile of publish -> queryable in InfluxDB, at a paced 1,000 msg/s. */
  p99_latency_ms_at_1000: number;
  p50_latency_ms_at_1000: number;
  /** Rate at which the broker acknowledged the publishes (the publishers' own ceiling). */
  publish_msg_s: number;
  messages: number;
  bytesPerMessage: number;
  /** CPU use of each process during the end-to-end phase, in % of one core (the machine has `cores` of them). */
  cpu_pct: { mosquitto: number; influxd: number; aggregator: number; publishers: number; cores: number };
}

/** utime + stime of a process in seconds, from /proc (Linux); 0 when unavailable. */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name; clock ticks are 100 Hz on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

const ROOT = join(import.meta.dirname, '..');
const BATCH = 5000;
const NODES = 20;
const MEASUREMENTS = ['rad', 'alarm', 'source', 'xray', 'camera_event', 'cmd_ack'];

/** Kinds in the mix a site sends (mostly radiation summaries); each is one point, so msg/s = points/s. */
const MIX: Kind[] = ['rad', 'rad', 'rad', 'rad', 'rad', 'rad', 'xray', 'event', 'alarm', 'ack'];

function message(kind: Kind, node: string, seq: number, ts: number): AnyMessage {
  const env = { v: 1 as const, node, site: 'port-a', boot: '0123456789abcdef', seq, ts, tsTrusted: true, mono_ms: seq * 100 };
  switch (kind) {
    case 'rad':
      return { ...env, live_s: 0.98, gross_cps: 1650.4 + (seq % 7), doseRate_uSv_h: 0.081, gm_cps: 3.2, detectors: [], position: { lat: 51.95123, lon: 4.05234, height_m: 1.2 } };
    case 'xray':
      return { ...env, scanId: `scan-${seq}`, decision: 'clear', reasons: [], detections: [{ class: 'bottle', score: 0.31 }], latency_ms: 143 };
    case 'event':
      return { ...env, eventId: `ev-${seq}`, camera: 'hall-3', type: 'dwell', trackIds: [seq % 97], bbox: [0.1, 0.2, 0.05, 0.2], confidence: 0.74 };
    case 'alarm':
      return { ...env, alarmId: `al-${seq}`, test: 'sprt', statistic: 14.2, threshold: 9.2, gross_cps: 2100, nuclides: [{ nuclide: 'Cs-137', confidence: 0.9, category: 'industrial' }] };
    case 'ack':
      return { ...env, cmd: 'config', cmdId: `c-${seq}`, ok: true };
    case 'source':
      return { ...env, estimateId: `e-${seq}`, sources: [{ lat: 51.9, lon: 4.05, height_m: 1, cps_at_1m: 800, ambiguous: false }] };
    case 'status':
      return { ...env, role: 'vehicle', online: true, version: 'bench', uptime_s: seq };
    case 'spectrum':
      return { ...env, cmdId: `cap-${seq}`, detector: 'left', liveTime_s: 1, realTime_s: 1, progress: 1, counts: [3, 4, 5] };
  }
}

interface Built {
  topic: string;
  payload: Buffer;
  line: string;
}

function build(n: number, node0: string): Built[] {
  const out: Built[] = [];
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < n; i++) {
    const kind = MIX[i % MIX.length]!;
    const node = `${node0}${i % NODES}`;
    const seq = Math.floor(i / NODES);
    const msg = message(kind, node, seq, t0 + seq);
    out.push({ topic: dataTopic('port-a', node, kind), payload: Buffer.from(JSON.stringify(msg)), line: toLines({ kind, msg, time_ms: msg.ts, tsSrc: 'edge' })[0]! });
  }
  return out;
}

async function count(influx: InfluxService, db: string): Promise<number> {
  const r = await influxQuery(influx.url, db, `SELECT count(seq) FROM ${MEASUREMENTS.join(',')}`);
  let n = 0;
  for (const s of r.results[0]?.series ?? []) n += (s.values[0]?.[1] as number) ?? 0;
  return n;
}

async function startAggregator(dir: string, mqttPort: number, influxUrl: string, db: string, cpuProf?: string): Promise<ChildProcess> {
  const cfg = join(dir, 'agg.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      id: 'bench',
      mqtt: { url: `mqtt://127.0.0.1:${mqttPort}`, group: 'bench' },
      influx: { url: influxUrl, database: db, batchSize: BATCH, flushInterval_ms: 100 },
      spool: { dir: join(dir, 'spool'), fsync: 'interval' },
    }),
  );
  const args = ['--import', 'tsx', ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : []), join(ROOT, 'cloud/cli.ts'), 'run', '--config', cfg];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('running')) resolve();
    });
    proc.once('exit', (c) => reject(new Error(`aggregator exited with ${c}: ${err}`)));
  });
  proc.removeAllListeners('exit');
  return proc;
}

async function stopAggregator(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}

function utf8(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

/** An MQTT v5 QoS 1 PUBLISH with no properties; the packet id (2 bytes at `idAt`) is filled in when sent. */
function publishPacket(topic: string, payload: Buffer): { buf: Buffer; idAt: number } {
  const t = utf8(topic);
  const rest = t.length + 2 + 1 + payload.length;
  const head = Buffer.from([0x32, ...varint(rest)]);
  return { buf: Buffer.concat([head, t, Buffer.from([0, 0, 0]), payload]), idAt: head.length + t.length };
}

/**
 * A bare-bones MQTT v5 publisher over a raw socket: the messages are encoded before the clock starts and
 * written in large runs, so the publishing side costs little CPU and the bench measures the aggregator rather
 * than the client library (MQTT.js tops out near 15,000 QoS 1 msg/s per process here).
 */
class RawPublisher {
  private sock: Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private onAck: (() => void) | undefined;

  constructor(
    private readonly port: number,
    private readonly clientId: string,
  ) {}

  async connect(): Promise<void> {
    const sock = tcpConnect({ port: this.port, host: '127.0.0.1', noDelay: true });
    this.sock = sock;
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.once('connect', () => resolve());
    });
    const id = utf8(this.clientId);
    const vh = Buffer.concat([utf8('MQTT'), Buffer.from([5, 0x02, 0, 60, 0])]);
    sock.write(Buffer.concat([Buffer.from([0x10, ...varint(vh.length + id.length)]), vh, id]));
    let connack: (() => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      connack = resolve;
      failed = reject;
    });
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        if (this.buf.length < 2) return;
        let len = 0;
        let mul = 1;
        let i = 1;
        for (;;) {
          if (i >= this.buf.length) return;
          const b = this.buf[i++]!;
          len += (b & 127) * mul;
          mul *= 128;
          if (!(b & 128)) break;
        }
        if (this.buf.length < i + len) return;
        const type = this.buf[0]! >> 4;
        if (type === 2) {
          if (this.buf[i + 1] !== 0) failed?.(new Error(`CONNACK reason ${this.buf[i + 1]}`));
          else connack?.();
        } else if (type === 4) this.onAck?.();
        this.buf = this.buf.subarray(i + len);
      }
    });
    await ready;
  }

  /** Sends every packet with at most `window` unacknowledged; resolves when the broker acknowledged them all. */
  publishAll(packets: { buf: Buffer; idAt: number }[], window: number): Promise<void> {
    const sock = this.sock!;
    let next = 0;
    let acked = 0;
    let id = 0;
    return new Promise<void>((resolve) => {
      const pump = () => {
        const upto = Math.min(packets.length, acked + window);
        if (next >= upto) return;
        sock.cork();
        while (next < upto) {
          const p = packets[next++]!;
          id = (id % 65535) + 1;
          p.buf.writeUInt16BE(id, p.idAt);
          sock.write(p.buf);
        }
        sock.uncork();
      };
      this.onAck = () => {
        acked++;
        if (acked === packets.length) resolve();
        else if (next - acked < window / 2) pump();
      };
      if (packets.length === 0) resolve();
      pump();
    });
  }

  close(): void {
    this.sock?.end(Buffer.from([0xe0, 0]));
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export async function benchIngest(opts: { messages: number; publishers?: number; cpuProfDir?: string }): Promise<IngestBench> {
  const mosq = await startMosquitto();
  const influx = await startInflux();
  const dir = tempDir('bench-ingest');
  const clients: MqttClient[] = [];
  let agg: ChildProcess | undefined;
  try {
    const msgs = build(opts.messages, 'n');
    const bytesPerMessage = Math.round(msgs.reduce((a, m) => a + m.payload.length, 0) / msgs.length);

    // (2) Direct-write ceiling first, on its own database, with nothing else running.
    const body = (from: number) => msgs.slice(from, from + BATCH).map((m) => m.line).join('\n') + '\n';
    await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE direct')}`, { method: 'POST' });
    const bodies: string[] = [];
    for (let i = 0; i < msgs.length; i += BATCH) bodies.push(body(i));
    const d0 = performance.now();
    for (const b of bodies) {
      const r = await fetch(`${influx.url}/write?db=direct&precision=ns`, { method: 'POST', body: b });
      if (r.status !== 204) throw new Error(`direct write: ${r.status} ${await r.text()}`);
    }
    const direct_s = (performance.now() - d0) / 1000;
    const directCount = await count(influx, 'direct');
    if (directCount !== msgs.length) throw new Error(`direct write stored ${directCount} of ${msgs.length} points`);

    // (1) End to end through Mosquitto and the aggregator (its own process, as deployed).
    agg = await startAggregator(dir, mosq.port, influx.url, 'customs', opts.cpuProfDir);
    const nPub = opts.publishers ?? 4;
    const pubs: RawPublisher[] = [];
    for (let i = 0; i < nPub; i++) {
      const p = new RawPublisher(mosq.port, `bench-pub-${i}`);
      await p.connect();
      pubs.push(p);
    }
    const packets = msgs.map((m) => publishPacket(m.topic, m.payload));
    const cpu0 = [cpuSecondsOf(mosq.pid), cpuSecondsOf(influx.pid), cpuSecondsOf(agg.pid), process.cpuUsage()] as const;
    const t0 = performance.now();
    await Promise.all(pubs.map((p, i) => p.publishAll(packets.filter((_, k) => k % nPub === i), 2000)));
    const tPub = performance.now();
    for (const p of pubs) p.close();
    clients.push(await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'bench-pace' }));
    for (;;) {
      if ((await count(influx, 'customs')) >= msgs.length) break;
      if (performance.now() - t0 > 600_000) throw new Error('end-to-end ingest did not finish within 10 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const e2e_s = (performance.now() - t0) / 1000;
    const pubCpu = process.cpuUsage(cpu0[3]);
    const pct = (sec: number) => Math.round((100 * sec) / e2e_s);
    const cpu_pct = {
      mosquitto: pct(cpuSecondsOf(mosq.pid) - cpu0[0]),
      influxd: pct(cpuSecondsOf(influx.pid) - cpu0[1]),
      aggregator: pct(cpuSecondsOf(agg.pid) - cpu0[2]),
      publishers: pct((pubCpu.user + pubCpu.system) / 1e6),
      cores: cpus().length,
    };

    // (3) Latency at a paced 1,000 msg/s: every 100th message is a probe whose arrival in InfluxDB is polled.
    const RATE = 1000;
    const SECONDS = 10;
    const probeNode = 'lat-probe';
    const published = new Map<number, number>();
    const arrived = new Set<number>();
    const latencies: number[] = [];
    let polling = true;
    let tPaceEnd = Infinity;
    const poller = (async () => {
      let since = 0;
      while (polling || latencies.length < published.size) {
        const r = await influxQuery(influx.url, 'customs', `SELECT seq FROM rad WHERE node='${probeNode}' AND time >= ${since}ms`);
        const now = performance.now();
        for (const row of r.results[0]?.series?.[0]?.values ?? []) {
          const seq = row[1] as number;
          const at = published.get(seq);
          if (at !== undefined && !arrived.has(seq)) {
            latencies.push(now - at);
            arrived.add(seq);
          }
          since = Math.max(since, row[0] as number);
        }
        if (!polling && performance.now() - tPaceEnd > 10_000) break;
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    const c = clients[0]!;
    const p0 = performance.now();
    for (let i = 0; i < RATE * SECONDS; i++) {
      const due = p0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (i % 100 === 0) {
        const seq = i / 100;
        const msg = message('rad', probeNode, seq, Date.now());
        published.set(seq, performance.now());
        c.publish(dataTopic('port-a', probeNode, 'rad'), JSON.stringify(msg), { qos: 1 });
      } else {
        const msg = message(MIX[i % MIX.length]!, `pace${i % NODES}`, i, Date.now());
        c.publish(dataTopic('port-a', msg.node, MIX[i % MIX.length]!), JSON.stringify(msg), { qos: 1 });
      }
    }
    tPaceEnd = performance.now();
    polling = false;
    await poller;
    const probes = published.size;
    if (latencies.length < probes) throw new Error(`latency: only ${latencies.length} of ${probes} probes arrived`);

    return {
      endToEnd_msg_s: msgs.length / e2e_s,
      cpu_pct,
      direct_points_s: msgs.length / direct_s,
      p99_latency_ms_at_1000: percentile(latencies, 99),
      p50_latency_ms_at_1000: percentile(latencies, 50),
      publish_msg_s: msgs.length / ((tPub - t0) / 1000),
      messages: msgs.length,
      bytesPerMessage,
    };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
    if (agg) await stopAggregator(agg);
    await mosq.close();
    await influx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `tsx bench/ingest.ts [messages] [--cpu-prof dir]` runs it alone.
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const n = Number(process.argv[2] ?? 100_000);
  const profIdx = process.argv.indexOf('--cpu-prof');
  const r = await benchIngest({ messages: n, cpuProfDir: profIdx > 0 ? process.argv[profIdx + 1] : undefined });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.exit(0);
}
