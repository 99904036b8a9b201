// One edge box: config → clock, outbox, MQTT link, supervised devices and pipelines, status heartbeat.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';
import { logger as makeLogger } from '../../common/log.js';
import { InputError } from '../../common/errors.js';
import { packageVersion } from '../../common/version.js';
import {
  COMMANDS,
  SCHEMA_VERSION,
  cloudAckTopic,
  cmdTopic,
  dataTopic,
  priorityOf,
  validate,
  type BodyOf,
  type Command,
  type Position,
  type StatusMsg,
} from '../../protocol/index.js';
import { bootId, SystemClock } from './clock.js';
import { EventEmitter } from 'node:events';
import { type Clock, type CommandBus, type Commands, type Component, type ReadingBus, type Readings, type SummaryKind } from '../../contract/component.js';
import { createComponent } from '../../contract/registry.js';
import type { EdgeConfig } from './config.js';
import { MqttLink } from './link.js';
import { Outbox, OutboxWriteError, type OutboxEntry, type Priority } from './outbox.js';
import { Supervisor } from './supervisor.js';
import { createSysinfo, type SysSample } from './sysinfo.js';
import { registerDevices } from '../../devices/index.js';
import { registerPipelines } from '../pipelines/index.js';

export interface RuntimeOptions {
  config: EdgeConfig;
  log?: Logger;
  clock?: Clock;
  /** Extra components created by the caller (tests, the demo) besides those named in the config. */
  components?: Component[];
}

/** File the runtime rewrites at every heartbeat; `customs-edge health` checks that it is fresh. */
export function statusFilePath(config: EdgeConfig): string {
  return join(config.outbox.dir, 'status.json');
}

export class EdgeRuntime {
  readonly boot = bootId();
  readonly config: EdgeConfig;
  readonly clock: Clock;
  private readonly log: Logger;
  private outbox!: Outbox;
  private link!: MqttLink;
  private supervisor!: Supervisor;
  private readonly sysinfo;
  private lastSample: SysSample | undefined;
  private seq = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private position: Position | undefined;
  private components: Component[] = [];
  private started = false;
  /** Aborted by stop(): ends the retries of summaries the disk refused. */
  private stopping = new AbortController();
  /** Devices publish readings, pipelines consume them (component.ts Readings). */
  readonly bus: ReadingBus = new EventEmitter<Readings>();
  /** Commands from the link, dispatched by name to the components that listen. */
  readonly commands: CommandBus = new EventEmitter<Commands>();

  constructor(private readonly opts: RuntimeOptions) {
    this.config = opts.config;
    this.log = opts.log ?? makeLogger('edge');
    this.clock = opts.clock ?? new SystemClock({ trust: opts.config.clock.trust, log: this.log });
    this.sysinfo = createSysinfo({ diskPath: opts.config.health.diskPath ?? opts.config.outbox.dir });
  }

  async start(): Promise<void> {
    const c = this.config;
    this.stopping = new AbortController();
    mkdirSync(c.outbox.dir, { recursive: true });
    this.outbox = await Outbox.open({
      dir: c.outbox.dir,
      maxBytes: c.outbox.maxBytes,
      segmentBytes: c.outbox.segmentBytes,
      fsync: c.outbox.fsync,
      fsyncInterval_ms: c.outbox.fsyncInterval_ms,
      log: this.log.child({ ns: 'outbox' }),
    });
    this.outbox.on('full', (full) => {
      this.log.warn({ full }, full ? 'outbox full: dropping oldest routine telemetry' : 'outbox has room again');
      this.link?.publishStatus();
    });
    this.link = new MqttLink({
      url: c.broker.url,
      clientId: c.node,
      ca: c.broker.ca,
      cert: c.broker.cert,
      key: c.broker.key,
      keepalive_s: c.broker.keepalive_s,
      protocolVersion: c.broker.protocolVersion,
      reconnect_ms: c.broker.reconnect_ms,
      statusTopic: dataTopic(c.site, c.node, 'status'),
      commandFilter: cmdTopic(c.site, c.node, '#'),
      inflight: c.outbox.inflight,
      backlogRate_per_s: c.outbox.backlogRate_per_s,
      ...(c.outbox.cloudAck ? { cloudAck: { topic: cloudAckTopic(c.site, c.node), timeout_ms: c.outbox.cloudAckTimeout_s * 1000 } } : {}),
      outbox: this.outbox,
      makeStatus: (online) => Buffer.from(JSON.stringify(this.status(online))),
      log: this.log.child({ ns: 'link' }),
    });
    this.supervisor = new Supervisor({
      log: this.log.child({ ns: 'supervisor' }),
      makeContext: (component) => ({
        node: c.node,
        site: c.site,
        log: this.log.child({ ns: component.name }),
        clock: this.clock,
        emit: (kind, body) => this.emit(kind, body),
        setPosition: (p) => {
          this.position = p;
        },
        bus: this.bus,
        commands: this.commands,
      }),
    });
    this.link.on('command', (topic, payload) => this.dispatchCommand(topic, payload));
    this.supervisor.on('state', (s) => {
      this.log.info({ component: s.name, state: s.state, restarts: s.restarts, err: s.lastError }, 'component state');
    });
    // Device families and pipelines register their lazy loaders; only the types named in the config are imported.
    registerDevices();
    registerPipelines();
    for (const spec of [...c.devices, ...c.pipelines]) this.components.push(await createComponent(spec));
    this.components.push(...(this.opts.components ?? []));
    for (const comp of this.components) this.supervisor.add(comp);
    this.lastSample = await this.sysinfo.sample();
    // One synchronous look at NTP before the first summary, so a synchronised box does not start untrusted.
    if (this.clock instanceof SystemClock) await this.clock.refresh();
    this.link.start();
    await this.supervisor.start();
    this.started = true;
    this.writeStatusFile();
    this.heartbeat = setInterval(() => void this.beat(), c.health.heartbeat_s * 1000);
    this.log.info({ node: c.node, site: c.site, role: c.role, boot: this.boot, components: this.components.length }, 'edge runtime started');
  }

  /** `.../cmd/<name>` → the listeners of that command; unknown names and commands nobody handles are logged. */
  private dispatchCommand(topic: string, payload: Buffer): void {
    const name = topic.slice(topic.lastIndexOf('/') + 1);
    if (!(COMMANDS as readonly string[]).includes(name)) {
      this.log.warn({ topic }, `command "${name}" ignored: expected one of ${COMMANDS.join(', ')}`);
      return;
    }
    const cmd = name as Command;
    if (this.commands.listenerCount(cmd) === 0) {
      this.log.warn({ topic }, `command "${cmd}" ignored: no component on this node handles it`);
      return;
    }
    this.commands.emit(cmd, payload, topic);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping.abort();
    clearInterval(this.heartbeat);
    await this.supervisor.stop();
    await this.link.stop();
    await this.outbox.close();
    this.bus.removeAllListeners();
    this.commands.removeAllListeners();
    this.log.info('edge runtime stopped');
  }

  /**
   * Stamps a summary with the envelope, validates it against the protocol (a pipeline bug must not reach the
   * cloud's dead-letter topic), journals it and hands it to the link.
   */
  async emit<K extends SummaryKind>(kind: K, body: BodyOf<K>): Promise<void> {
    const c = this.config;
    const r = this.clock.now();
    const msg = {
      v: SCHEMA_VERSION,
      node: c.node,
      site: c.site,
      boot: this.boot,
      seq: this.seq,
      ts: r.ts,
      tsTrusted: r.tsTrusted,
      mono_ms: Math.round(r.mono_ms),
      ...body,
    };
    const check = validate(kind, msg);
    if (!check.ok) throw new InputError(`${kind} summary does not match the protocol schema: ${check.errors.join('; ')}`);
    this.seq++;
    const entry = await this.journal(
      dataTopic(c.site, c.node, kind),
      priorityOf(kind),
      Buffer.from(JSON.stringify(msg)),
      `${this.boot}:${msg.seq}`,
    );
    if (entry) this.link.enqueue(entry);
  }

  /**
   * Appends one summary. A write the disk refused (ENOSPC, EIO) journalled nothing of it, so the summary is kept
   * here with its seq and appended again with backoff: neither lost nor renumbered nor doubled. The component
   * awaiting emit waits meanwhile; only stop() ends the retries, and the error then goes to the component.
   */
  private async journal(topic: string, priority: Priority, payload: Buffer, id: string): Promise<OutboxEntry | undefined> {
    for (let wait_ms = 50; ; wait_ms = Math.min(2 * wait_ms, 2000)) {
      try {
        return await this.outbox.append(topic, priority, payload, id);
      } catch (e) {
        if (!(e instanceof OutboxWriteError) || this.stopping.signal.aborted) throw e;
        await sleep(wait_ms, undefined, { signal: this.stopping.signal }).catch(() => {
          throw e;
        });
      }
    }
  }

  status(online: boolean): StatusMsg {
    const c = this.config;
    const r = this.clock.now();
    const s = this.lastSample;
    const calibration: Record<string, string> = {};
    const models: Record<string, string> = {};
    let cameras: StatusMsg['cameras'];
    for (const comp of this.components) {
      const v = comp.versions?.();
      Object.assign(calibration, v?.calibration ?? {});
      Object.assign(models, v?.models ?? {});
      const x = comp.statusExtras?.();
      if (x?.cameras) cameras = { ...cameras, ...x.cameras };
    }
    const ob = this.outbox?.stats();
    return {
      v: SCHEMA_VERSION,
      node: c.node,
      site: c.site,
      boot: this.boot,
      // The last seq handed out: the cloud can tell a gap at the tail from a quiet node.
      seq: Math.max(0, this.seq - 1),
      ts: r.ts,
      tsTrusted: r.tsTrusted,
      mono_ms: Math.round(r.mono_ms),
      role: c.role,
      online,
      version: packageVersion(),
      uptime_s: Math.round(r.mono_ms / 1000),
      ...(s ? { cpu_pct: s.cpu_pct, mem_rss_bytes: s.mem_rss_bytes, mem_free_bytes: s.mem_free_bytes, disk_free_bytes: s.disk_free_bytes } : {}),
      components: this.supervisor?.statuses() ?? {},
      ...(ob
        ? { outbox: { depth: ob.depth, bytes: ob.bytes, droppedRoutine: ob.droppedRoutine, full: ob.full, unconfirmed: this.link?.stats().unconfirmed ?? 0 } }
        : {}),
      calibration,
      models,
      ...(cameras ? { cameras } : {}),
      ...(this.position ? { position: this.position } : {}),
    };
  }

  stats() {
    return { seq: this.seq, outbox: this.outbox.stats(), link: this.link.stats(), components: this.supervisor.statuses() };
  }

  private async beat(): Promise<void> {
    try {
      this.lastSample = await this.sysinfo.sample();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'system sample failed');
    }
    this.link.publishStatus();
    this.writeStatusFile();
  }

  private writeStatusFile(): void {
    const file = statusFilePath(this.config);
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(this.status(true)));
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, file }, 'cannot write status file');
    }
  }
}
