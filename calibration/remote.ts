// The technician's side of the MQTT link: push signed records (retained per-node commands) and wait for the node's
// acknowledgement, send a signed capture and collect the spectrum, read a node's status.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { cmdTopic, dataTopic, decode, type AckMsg, type SignedEnvelope, type SpectrumMsg, type StatusMsg } from '../protocol/index.js';
import { CustomsError } from '../common/errors.js';

export class RemoteError extends CustomsError {
  constructor(message: string) {
    super('E_REMOTE', message);
  }
}

export interface BrokerOptions {
  url: string;
  site: string;
  /** TLS files, as in the edge config (broker.ca / cert / key). */
  ca?: string;
  cert?: string;
  key?: string;
  clientId?: string;
  timeout_s?: number;
}

export async function connect(b: BrokerOptions): Promise<MqttClient> {
  const read = (f: string | undefined, what: string): Buffer | undefined => {
    if (!f) return undefined;
    try {
      return readFileSync(f);
    } catch (e) {
      throw new RemoteError(`--${what} ${f}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const ca = read(b.ca, 'ca');
  const cert = read(b.cert, 'cert');
  const key = read(b.key, 'key');
  const opts: IClientOptions = {
    protocolVersion: 5,
    clientId: b.clientId ?? `customs-calib-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    connectTimeout: (b.timeout_s ?? 10) * 1000,
    reconnectPeriod: 0,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
  };
  try {
    return await mqtt.connectAsync(b.url, opts);
  } catch (e) {
    throw new RemoteError(`broker ${b.url}: cannot connect (${(e as Error).message})`);
  }
}

/** Waits for the first message on `topic` that `pick` accepts; rejects after timeout_s naming what never came. */
function waitFor<T>(client: MqttClient, topic: string, pick: (topic: string, payload: Buffer) => T | undefined, timeout_s: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      const v = pick(t, payload);
      if (v === undefined) return;
      cleanup();
      resolve(v);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new RemoteError(`no ${what} within ${timeout_s} s`));
    }, timeout_s * 1000);
    const cleanup = (): void => {
      clearTimeout(timer);
      client.off('message', onMessage);
    };
    client.on('message', onMessage);
  });
}

export interface PushResult {
  ack: AckMsg;
  /** Calibration versions in the node's status after the ack (when it published one in time). */
  status?: Record<string, string>;
}

/**
 * Publishes a signed command retained at QoS 1 (a node that is offline gets it when it connects) and waits for the
 * node's ack with the same cmdId. The subscription is made first so a fast ack is not missed.
 */
export async function pushCommand(
  b: BrokerOptions,
  node: string,
  cmd: 'calibration' | 'capture',
  envelope: SignedEnvelope,
  cmdId: string,
  opts: { retain: boolean; waitStatus?: (status: StatusMsg) => boolean },
): Promise<PushResult> {
  const client = await connect(b);
  try {
    const ackTopic = dataTopic(b.site, node, 'ack');
    const statusTopic = dataTopic(b.site, node, 'status');
    await client.subscribeAsync([ackTopic, statusTopic], { qos: 1 });
    const timeout = b.timeout_s ?? 30;
    const ackP = waitFor(client, ackTopic, (t, p) => {
      const d = decode(t, p);
      return d.ok && d.kind === 'ack' && (d.msg as AckMsg).cmdId === cmdId && (d.msg as AckMsg).cmd === cmd ? (d.msg as AckMsg) : undefined;
    }, timeout, `acknowledgement of ${cmd} ${cmdId} from node ${node} (is it online and subscribed?)`);
    await client.publishAsync(cmdTopic(b.site, node, cmd), JSON.stringify(envelope), { qos: 1, retain: opts.retain });
    const ack = await ackP;
    let status: Record<string, string> | undefined;
    if (ack.ok && opts.waitStatus) {
      const st = await waitFor(client, statusTopic, (t, p) => {
        const d = decode(t, p);
        return d.ok && d.kind === 'status' && opts.waitStatus!(d.msg as StatusMsg) ? (d.msg as StatusMsg) : undefined;
      }, Math.min(timeout, 15), `status of node ${node} showing the new version`).catch(() => undefined);
      status = st?.calibration;
    }
    return { ack, ...(status ? { status } : {}) };
  } finally {
    await client.endAsync();
  }
}

/** The node's retained status (calibration versions), or undefined when none is retained. */
export async function nodeStatus(b: BrokerOptions, node: string): Promise<StatusMsg | undefined> {
  const client = await connect(b);
  try {
    const topic = dataTopic(b.site, node, 'status');
    const p = waitFor(client, topic, (t, payload) => {
      const d = decode(t, payload);
      return d.ok && d.kind === 'status' ? (d.msg as StatusMsg) : undefined;
    }, Math.min(b.timeout_s ?? 5, 5), `retained status of ${node}`).catch(() => undefined);
    await client.subscribeAsync(topic, { qos: 1 });
    return await p;
  } finally {
    await client.endAsync();
  }
}

export interface CaptureResult {
  ack: AckMsg;
  spectra: SpectrumMsg[];
}

/**
 * Sends a signed capture command (not retained: a capture must not restart on every reconnect) and collects the
 * node's `spectrum` messages for it; `onProgress` sees each progress message.
 */
export async function capture(
  b: BrokerOptions,
  node: string,
  envelope: SignedEnvelope<{ cmdId: string; detectors: string[]; duration_s: number; issued: string }>,
  onProgress: (m: SpectrumMsg) => void,
): Promise<CaptureResult> {
  const client = await connect(b);
  const cmdId = envelope.payload.cmdId;
  const want = new Set(envelope.payload.detectors);
  try {
    const ackTopic = dataTopic(b.site, node, 'ack');
    const specTopic = dataTopic(b.site, node, 'spectrum');
    await client.subscribeAsync([ackTopic, specTopic], { qos: 1 });
    const done = new Map<string, SpectrumMsg>();
    const timeout = (b.timeout_s ?? 30) + envelope.payload.duration_s * 2;
    const finished = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('message', onMessage);
        reject(new RemoteError(`capture ${cmdId}: no result from node ${node} within ${timeout} s (got ${done.size} of ${want.size} detectors)`));
      }, timeout * 1000);
      const onMessage = (t: string, payload: Buffer): void => {
        if (t !== specTopic) return;
        const d = decode(t, payload);
        if (!d.ok || d.kind !== 'spectrum') return;
        const m = d.msg as SpectrumMsg;
        if (m.cmdId !== cmdId) return;
        if (m.progress >= 1 && (m.counts || m.error)) done.set(m.detector, m);
        else onProgress(m);
        if ([...want].every((w) => done.has(w))) {
          clearTimeout(timer);
          client.off('message', onMessage);
          resolve();
        }
      };
      client.on('message', onMessage);
    });
    finished.catch(() => undefined);
    const ackP = waitFor(client, ackTopic, (t, p) => {
      const d = decode(t, p);
      return d.ok && d.kind === 'ack' && (d.msg as AckMsg).cmdId === cmdId ? (d.msg as AckMsg) : undefined;
    }, b.timeout_s ?? 30, `acknowledgement of capture ${cmdId} from node ${node}`);
    await client.publishAsync(cmdTopic(b.site, node, 'capture'), JSON.stringify(envelope), { qos: 1, retain: false });
    const ack = await ackP;
    if (!ack.ok) return { ack, spectra: [] };
    await finished;
    return { ack, spectra: [...done.values()] };
  } finally {
    await client.endAsync();
  }
}
