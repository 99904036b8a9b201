// The edge outbox on a disk that fills up mid-stream (a 2 MiB tmpfs, or injected ENOSPC where mounting is refused),
// behind a broker that forgets what it had queued: every summary arrives once, intact, with its own seq.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { cloudAckTopic, decode, type BodyOf } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { Outbox } from '../../edge/runtime/outbox.js';
import type { Component } from '../../contract/component.js';
import { startMosquitto, tempDir, type Service } from '../harness/services.js';
import { injectFsFaults } from '../helpers/fs-faults.js';
import { until } from '../helpers/wait.js';

const SITE = 'port-a';
const NODE = 'veh-09';

/** A disk that can be filled and freed: a real tmpfs when mount is permitted, else fs writes refused by injection. */
interface SmallDisk {
  dir: string;
  mode: 'tmpfs' | 'injected';
  fill(): void;
  free(): void;
}

function smallDisk(t: Test): SmallDisk {
  const dir = tempDir('enospc');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    t.comment(`mount -t tmpfs not permitted here (${(e as Error).message.split('\n')[0]}): injecting ENOSPC into fs writes instead`);
    return injectedDisk(t, dir);
  }
  t.teardown(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const filler = join(dir, 'filler');
  return {
    dir,
    mode: 'tmpfs',
    fill() {
      // Down to the last byte: the outbox's next write that needs a new page is cut short, then refused.
      const fd = openSync(filler, 'a');
      try {
        for (const chunk of [65536, 4096, 1]) {
          const buf = Buffer.alloc(chunk, 0x5a);
          for (;;) {
            try {
              if (writeSync(fd, buf) < chunk) break;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
              break;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      unlinkSync(filler);
    },
  };
}

/** ENOSPC injected into writes of files under dir: the first refused write is cut short, as on a full disk. */
function injectedDisk(t: Test, dir: string): SmallDisk {
  const faults = injectFsFaults(dir);
  t.teardown(() => {
    faults.restore();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, mode: 'injected', fill: () => faults.refuseWrites('ENOSPC', { cut: true }), free: () => faults.heal() };
}

/** Summary i: its number in gross_cps and in padded detector ids, so a payload from a wrong offset cannot pass. */
function body(i: number): BodyOf<'rad'> {
  return {
    live_s: 1,
    gross_cps: i,
    detectors: [0, 1, 2, 3, 4, 5].map((d) => ({ id: `r${i}-d${d}-`.padEnd(30, String(d)), cps: i + d })),
  };
}

/** A pipeline that emits summaries 0..n-1 one at a time, keeping a summary whose emit was refused for a retry. */
function producer(n: number) {
  const st = { emitted: 0, refused: 0 };
  let loop: Promise<void> | undefined;
  const comp: Component = {
    name: 'producer',
    kind: 'pipeline',
    async start(ctx) {
      loop = (async () => {
        while (st.emitted < n && !ctx.signal.aborted) {
          try {
            await ctx.emit('rad', body(st.emitted));
            st.emitted++;
          } catch {
            st.refused++;
            await sleep(50);
          }
          if (st.emitted % 10 === 0) await sleep(2);
        }
      })();
    },
    async stop() {
      await loop;
    },
  };
  return { comp, st };
}

/**
 * A stand-in for the aggregator: takes the node's summaries, checks each against what was emitted, and confirms
 * (boot, seq) on the cloud-ack topic like the real one. Its session is persistent, so the broker queues for it.
 */
class Cloud {
  /** Summary number → the seqs it arrived under. */
  readonly seqs = new Map<number, Set<number>>();
  readonly corrupt: string[] = [];
  deliveries = 0;
  private c: MqttClient | undefined;

  constructor(private readonly port: number) {}

  async connect(): Promise<void> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${this.port}`, {
      clientId: 'cloud-standin',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
    c.on('message', (topic, payload) => this.take(c, topic, payload));
    await c.subscribeAsync(`customs/v1/${SITE}/${NODE}/rad`, { qos: 1 });
    this.c = c;
  }

  async disconnect(): Promise<void> {
    await this.c?.endAsync();
    this.c = undefined;
  }

  private take(c: MqttClient, topic: string, payload: Buffer): void {
    this.deliveries++;
    const d = decode(topic, payload);
    if (!d.ok) return void this.corrupt.push(`${d.reason}: ${d.detail}`);
    const m = d.msg as BodyOf<'rad'> & { seq: number; boot: string };
    const want = body(m.gross_cps);
    if (JSON.stringify(m.detectors) !== JSON.stringify(want.detectors) || m.live_s !== want.live_s) {
      return void this.corrupt.push(`seq ${m.seq}: payload is not summary ${m.gross_cps}`);
    }
    let s = this.seqs.get(m.gross_cps);
    if (!s) this.seqs.set(m.gross_cps, (s = new Set()));
    s.add(m.seq);
    c.publish(cloudAckTopic(SITE, NODE), JSON.stringify({ v: 1, boot: m.boot, r: [[m.seq, m.seq]] }), { qos: 0 });
  }
}

/** Kills the broker and restarts it without its persistence file: every message it had queued is forgotten. */
async function forgetfulRestart(broker: Service): Promise<void> {
  await broker.kill();
  rmSync(join(broker.dir, 'mosquitto.db'), { force: true });
  await broker.start();
}

t.test('disk full mid-stream, broker forgets its queue: 0 lost, 0 doubled, 0 corrupt; full while the disk refuses', async (t) => {
  const disk = smallDisk(t);
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const cloud = new Cloud(broker.port);
  await cloud.connect();
  t.teardown(() => cloud.disconnect());
  const logLines: { level: number; msg: string; code?: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void logLines.push(JSON.parse(s) as (typeof logLines)[number]) });
  const N = 1500;
  const prod = producer(N);
  const outboxDir = join(disk.dir, 'outbox');
  mkdirSync(outboxDir);
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: NODE,
      site: SITE,
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}`, reconnect_ms: 100 },
      // The bound is far above the disk: the disk, not the bound, refuses.
      outbox: { dir: outboxDir, maxBytes: 64 << 20, segmentBytes: 64 << 10, fsync: 'always', cloudAckTimeout_s: 1, backlogRate_per_s: 2000 },
      clock: { trust: 'assume' },
      health: { heartbeat_s: 0.5 },
    }),
    components: [prod.comp],
    log,
  });
  await rt.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await rt.stop();
  });

  await until('300 summaries confirmed', () => cloud.seqs.size >= 300, 20_000);
  // The cloud goes away: what the node publishes now waits in the broker's queue for it, and in the journal.
  await cloud.disconnect();
  await until('600 summaries emitted', () => prod.st.emitted >= 600, 20_000);
  t.notOk(rt.stats().outbox.full, 'not full before the disk fills');

  disk.fill();
  await until('the outbox to report full while the disk refuses writes', () => rt.stats().outbox.full, 10_000);
  const atFull = prod.st.emitted;
  await until('several refused writes', () => (rt.stats().outbox.writeFailures ?? 0) >= 3, 10_000);
  t.ok(rt.stats().outbox.full, 'still full while the disk refuses');
  t.ok(prod.st.emitted - atFull <= 1, `the pipeline was held back, not told its summaries were journalled (${prod.st.emitted - atFull} more)`);

  // The broker restarts without its persistence: every summary it had queued for the cloud is gone.
  await forgetfulRestart(broker);
  disk.free();
  await until('the outbox to recover once space returns', () => !rt.stats().outbox.full, 15_000);
  await cloud.connect();

  await until(
    `all ${N} summaries confirmed`,
    () => prod.st.emitted === N && cloud.seqs.size === N && rt.stats().outbox.depth === 0,
    90_000,
  );
  const st = rt.stats();
  await rt.stop();
  stopped = true;

  const range = Array.from({ length: N }, (_, i) => i);
  t.same(cloud.corrupt, [], '0 corrupt: every payload decodes and is the summary it claims to be');
  t.same(range.filter((i) => !cloud.seqs.has(i)), [], '0 lost: every summary arrived');
  t.same(range.filter((i) => (cloud.seqs.get(i)?.size ?? 0) > 1), [], '0 doubled: no summary was journalled twice under two seqs');
  t.same(range.filter((i) => !cloud.seqs.get(i)?.has(i)), [], 'summary i carries seq i: the seqs stay contiguous through the refusals');
  t.equal(prod.st.refused, 0, 'the runtime kept each refused summary and retried it; the pipeline saw no error');
  t.ok(st.outbox.writeFailures >= 3, `${st.outbox.writeFailures} writes refused by the ${disk.mode} disk`);
  t.equal(st.outbox.corrupt, 0, 'no journal record failed its CRC check');
  t.ok(st.link.unconfirmedResent > 0, `${st.link.unconfirmedResent} summaries the broker forgot were sent again`);
  t.same(
    logLines.filter((l) => /unreadable|corrupt/.test(l.msg)).map((l) => l.msg),
    [],
    'no journal entry was unreadable',
  );
  t.ok(logLines.some((l) => /refus|ENOSPC|no space/i.test(JSON.stringify(l))), 'the refusal was logged');

  // Nothing left on disk that a restart would send again.
  const ob = await Outbox.open({ dir: outboxDir, maxBytes: 64 << 20, segmentBytes: 64 << 10, fsync: 'always' });
  t.equal(ob.takeRecovered().length, 0, 'the journal holds no ghost record of a refused write');
  await ob.close();
  t.comment(`${cloud.deliveries} deliveries of ${N} summaries; ${st.link.resent} resent from the journal`);
});
