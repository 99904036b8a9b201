// Node side of calibration: verifies signed records from `cmd/calibration`, keeps the active one per detector on disk,
// hands it to the pipelines on the bus, acknowledges; and answers `cmd/capture` with a summed spectrum.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions } from '../../contract/options.js';
import { loadTrustedKeys, SignatureError, verifyEnvelope } from '../../protocol/index.js';
import { acceptanceProblem, RecordError, verifyRecord, versionLabel, type CalibrationRecord, type SignedRecord } from '../../protocol/calibration-record.js';
import { CustomsError } from '../../common/errors.js';
import type { ActiveCalibration, Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';

export const CalibrationStoreOptionsSchema = Type.Object(
  {
    trustedKeys: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
      description: 'keyId → Ed25519 public key: PEM text or the path of a PEM file',
    }),
    dir: Type.String({ minLength: 1, description: 'where the active records are kept (survives restarts)' }),
    detectors: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'detector ids this node accepts records for' }),
    /** A capture command older than this is refused (a replayed command must not start a capture). */
    captureMaxAge_s: Type.Number({ exclusiveMinimum: 0, default: 600 }),
    /** Longest capture a command may ask for. */
    captureMax_s: Type.Number({ exclusiveMinimum: 0, default: 7200 }),
  },
  { additionalProperties: false },
);
export type CalibrationStoreOptions = Static<typeof CalibrationStoreOptionsSchema>;

/** A signed `capture` command: sum the named detectors' spectra over `duration_s` and send the result once. */
export const CaptureCommand = Type.Object(
  {
    cmdId: Type.String({ minLength: 1, maxLength: 128 }),
    detectors: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 16 }),
    duration_s: Type.Number({ exclusiveMinimum: 0 }),
    issued: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);
export type CaptureCommand = Static<typeof CaptureCommand>;

class CaptureError extends CustomsError {
  constructor(message: string) {
    super('E_CAPTURE', message);
  }
}

interface DetectorState {
  active: SignedRecord;
  /** Highest version ever accepted for the detector (a rolled-back version cannot come back unsigned). */
  maxSeen: number;
}

interface Capture {
  cmd: CaptureCommand;
  sums: Map<string, { counts: Float64Array; live_s: number; real_s: number; calibration?: { coefficients: number[]; deviationPairs?: [number, number][] } }>;
  lastProgress: number;
  timer: NodeJS.Timeout;
}

/** The part of a record the pipelines use. */
export function activeOf(r: CalibrationRecord): ActiveCalibration {
  const x = r.results;
  return {
    detector: r.detector,
    version: versionLabel(r),
    ...(x.energy ? { energy: x.energy } : {}),
    ...(x.resolution ? { resolution: x.resolution } : {}),
    ...(x.efficiency ? { efficiency: x.efficiency } : {}),
    ...(x.doseFactor !== undefined ? { doseFactor: x.doseFactor } : {}),
    ...(x.referenceSpectrum ? { referenceSpectrum: x.referenceSpectrum } : {}),
  };
}

export class CalibrationStore implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  private readonly opts: CalibrationStoreOptions;
  private trusted: Record<string, string> = {};
  private ctx: ComponentContext | undefined;
  private readonly states = new Map<string, DetectorState>();
  private readonly captures = new Map<string, Capture>();
  private readonly seenCaptures = new Set<string>();
  private onCalibration?: (payload: Buffer, topic: string) => void;
  private onCapture?: (payload: Buffer, topic: string) => void;
  private onSpectrum?: (r: Readings['spectrum'][0]) => void;
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(CalibrationStoreOptionsSchema, spec, 'pipelines');
  }

  versions(): { calibration: Record<string, string> } {
    const out: Record<string, string> = {};
    for (const [det, s] of this.states) out[det] = versionLabel(s.active.payload);
    return { calibration: out };
  }

  /** The active calibration of each detector (tests, the CLI's status). */
  active(): ActiveCalibration[] {
    return [...this.states.values()].map((s) => activeOf(s.active.payload));
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    if (!ctx.commands) throw new Error(`pipeline ${this.name}: the runtime gave no command bus`);
    this.trusted = loadTrustedKeys(this.opts.trustedKeys, `pipelines/${this.name}/options/trustedKeys`);
    mkdirSync(this.opts.dir, { recursive: true });
    this.load();
    this.onCalibration = (payload) => {
      this.chain = this.chain.then(() => this.handleCalibration(payload)).catch((e: unknown) => ctx.fail(e as Error));
    };
    this.onCapture = (payload) => {
      this.chain = this.chain.then(() => this.handleCapture(payload)).catch((e: unknown) => ctx.fail(e as Error));
    };
    this.onSpectrum = (r) => this.addSpectrum(r);
    ctx.commands.on('calibration', this.onCalibration);
    ctx.commands.on('capture', this.onCapture);
    ctx.bus?.on('spectrum', this.onSpectrum);
    this.announce();
    // A pipeline that starts after this component (or is restarted by the supervisor) missed the announcement: each
    // second, hand the active records to listeners not seen before, and only to them (re-applying a calibration
    // resets a pipeline's accumulations).
    this.timers.push(setInterval(() => this.announceToNewListeners(), 1000));
  }

  async stop(): Promise<void> {
    const ctx = this.ctx;
    if (ctx?.commands && this.onCalibration) ctx.commands.off('calibration', this.onCalibration);
    if (ctx?.commands && this.onCapture) ctx.commands.off('capture', this.onCapture);
    if (ctx?.bus && this.onSpectrum) ctx.bus.off('spectrum', this.onSpectrum);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const c of this.captures.values()) clearTimeout(c.timer);
    this.captures.clear();
    await this.chain.catch(() => undefined);
  }

  private readonly toldListeners = new WeakSet<object>();

  private announce(): void {
    const bus = this.ctx?.bus;
    if (!bus) return;
    for (const s of this.states.values()) bus.emit('calibration', activeOf(s.active.payload));
    for (const fn of bus.listeners('calibration')) this.toldListeners.add(fn);
  }

  private announceToNewListeners(): void {
    const bus = this.ctx?.bus;
    if (!bus) return;
    for (const fn of bus.listeners('calibration')) {
      if (this.toldListeners.has(fn)) continue;
      this.toldListeners.add(fn);
      for (const s of this.states.values()) {
        try {
          (fn as (c: ActiveCalibration) => void)(activeOf(s.active.payload));
        } catch (e) {
          this.ctx?.log.warn({ err: (e as Error).message }, 'a calibration listener failed');
        }
      }
    }
  }

  private stateFile(detector: string): string {
    return join(this.opts.dir, `${encodeURIComponent(detector)}.json`);
  }

  /** Active records from disk, checked again: a key removed from the config no longer vouches for its records. */
  private load(): void {
    for (const f of readdirSync(this.opts.dir).filter((x) => x.endsWith('.json'))) {
      const file = join(this.opts.dir, f);
      try {
        const s = JSON.parse(readFileSync(file, 'utf8')) as DetectorState;
        const r = verifyRecord(s.active, this.trusted);
        if (!this.opts.detectors.includes(r.detector)) throw new RecordError(`detector "${r.detector}" is not on this node`);
        this.states.set(r.detector, { active: s.active, maxSeen: Math.max(s.maxSeen ?? 0, r.version) });
      } catch (e) {
        this.ctx?.log.warn({ file, err: (e as Error).message }, 'stored calibration ignored');
      }
    }
    if (this.states.size) this.ctx?.log.info({ calibration: this.versions().calibration }, 'stored calibrations loaded');
  }

  private persist(detector: string, s: DetectorState): void {
    const file = this.stateFile(detector);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(s));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    // The rename is durable only once the directory entry is.
    const dfd = openSync(this.opts.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  private async ack(cmd: 'calibration' | 'capture', cmdId: string, ok: boolean, reason?: string): Promise<void> {
    await this.ctx!.emit('ack', { cmd, cmdId: cmdId.slice(0, 128) || 'unknown', ok, ...(reason ? { reason: reason.slice(0, 1024) } : {}) });
  }

  /** Verify, check, persist, apply, acknowledge; anything wrong: log the reason, acknowledge ok:false, apply nothing. */
  private async handleCalibration(payload: Buffer): Promise<void> {
    const log = this.ctx!.log;
    let envelope: unknown;
    let cmdId = 'unknown';
    try {
      envelope = JSON.parse(payload.toString('utf8'));
    } catch {
      log.warn({ bytes: payload.length }, 'calibration command refused: payload is not JSON');
      await this.ack('calibration', cmdId, false, 'payload: expected a JSON signed envelope { payload, sig }');
      return;
    }
    const p = (envelope as { payload?: { id?: unknown } } | null)?.payload;
    if (p && typeof p.id === 'string') cmdId = p.id;
    // Every delivery is answered: the same record pushed again, or delivered again as retained on a reconnect, gets
    // the same (idempotent) answer, since someone may be waiting for it.
    let record: CalibrationRecord;
    try {
      record = verifyRecord(envelope, this.trusted);
    } catch (e) {
      const reason = e instanceof SignatureError || e instanceof RecordError ? e.message : `invalid record: ${(e as Error).message}`;
      log.warn({ cmdId, reason }, 'calibration refused');
      await this.ack('calibration', cmdId, false, reason);
      return;
    }
    const st = this.states.get(record.detector);
    if (st && st.active.sig.value === (envelope as SignedRecord).sig.value) {
      await this.ack('calibration', cmdId, true, `already active: ${versionLabel(record)}`);
      return;
    }
    const problem = acceptanceProblem(record, {
      detectors: this.opts.detectors,
      ...(st ? { active: st.active.payload } : {}),
      maxSeen: st?.maxSeen ?? 0,
      now_ms: this.ctx!.clock.now().ts,
    });
    if (problem) {
      log.warn({ cmdId, reason: problem }, 'calibration refused');
      await this.ack('calibration', cmdId, false, problem);
      return;
    }
    const next: DetectorState = { active: envelope as SignedRecord, maxSeen: Math.max(st?.maxSeen ?? 0, record.version) };
    this.persist(record.detector, next);
    this.states.set(record.detector, next);
    this.ctx!.bus?.emit('calibration', activeOf(record));
    for (const fn of this.ctx!.bus?.listeners('calibration') ?? []) this.toldListeners.add(fn);
    log.info({ detector: record.detector, version: versionLabel(record), rollback: record.rollback ?? null, technician: record.technician }, 'calibration applied');
    await this.ack('calibration', cmdId, true);
  }

  // ---------------------------------------------------------------------------------------------- capture

  private async handleCapture(payload: Buffer): Promise<void> {
    const log = this.ctx!.log;
    let cmdId = 'unknown';
    let cmd: CaptureCommand;
    try {
      const env = JSON.parse(payload.toString('utf8')) as unknown;
      const raw = (env as { payload?: { cmdId?: unknown } } | null)?.payload;
      if (raw && typeof raw.cmdId === 'string') cmdId = raw.cmdId;
      if (this.seenCaptures.has(cmdId)) return;
      cmd = verifyEnvelope<CaptureCommand>(env, this.trusted);
      const problems: string[] = [];
      if (typeof cmd !== 'object' || cmd === null) throw new CaptureError('payload: expected { cmdId, detectors, duration_s, issued }');
      if (typeof cmd.cmdId !== 'string' || !cmd.cmdId) problems.push('payload.cmdId: expected a non-empty string');
      if (!Array.isArray(cmd.detectors) || cmd.detectors.length === 0) problems.push('payload.detectors: expected a non-empty list');
      else for (const d of cmd.detectors) if (!this.opts.detectors.includes(d)) problems.push(`payload.detectors: "${d}" is not on this node (expected one of ${this.opts.detectors.join(', ')})`);
      if (!(typeof cmd.duration_s === 'number' && cmd.duration_s > 0 && cmd.duration_s <= this.opts.captureMax_s)) {
        problems.push(`payload.duration_s: expected 0 < duration <= ${this.opts.captureMax_s} s, got ${String(cmd.duration_s)}`);
      }
      const issued = Date.parse(cmd.issued);
      if (!Number.isFinite(issued)) problems.push(`payload.issued: expected an ISO 8601 time, got ${JSON.stringify(cmd.issued)}`);
      else if (this.ctx!.clock.now().ts - issued > this.opts.captureMaxAge_s * 1000) problems.push(`command issued at ${cmd.issued} is older than ${this.opts.captureMaxAge_s} s (replayed?)`);
      if (problems.length) throw new CaptureError(problems.join('; '));
    } catch (e) {
      this.seenCaptures.add(cmdId);
      const reason = e instanceof SyntaxError ? 'payload: expected a JSON signed envelope { payload, sig }' : (e as Error).message;
      log.warn({ cmdId, reason }, 'capture refused');
      await this.ack('capture', cmdId, false, reason);
      return;
    }
    this.seenCaptures.add(cmd.cmdId);
    // Wall-clock guard: spectra that stop arriving must not leave the technician waiting forever.
    const timer = setTimeout(() => {
      this.chain = this.chain.then(() => this.finishCapture(cmd.cmdId, 'timed out: no spectra arrived from the detectors for the duration asked')).catch((e: unknown) => this.ctx?.fail(e as Error));
    }, (cmd.duration_s * 2 + 30) * 1000);
    this.captures.set(cmd.cmdId, { cmd, sums: new Map(), lastProgress: 0, timer });
    log.info({ cmdId: cmd.cmdId, detectors: cmd.detectors, duration_s: cmd.duration_s }, 'capture started');
    await this.ack('capture', cmd.cmdId, true, `capturing ${cmd.duration_s} s of ${cmd.detectors.join(', ')}`);
  }

  private addSpectrum(r: Readings['spectrum'][0]): void {
    for (const c of this.captures.values()) {
      if (!c.cmd.detectors.includes(r.detector)) continue;
      let s = c.sums.get(r.detector);
      if (!s) {
        s = { counts: new Float64Array(r.counts.length), live_s: 0, real_s: 0, ...(r.calibration ? { calibration: r.calibration } : {}) };
        c.sums.set(r.detector, s);
      }
      if (s.real_s >= c.cmd.duration_s) continue;
      if (r.counts.length !== s.counts.length) {
        this.ctx?.log.warn({ detector: r.detector, channels: r.counts.length, expected: s.counts.length }, 'capture: spectrum with another channel count skipped');
        continue;
      }
      for (let i = 0; i < s.counts.length; i++) s.counts[i] += r.counts[i]!;
      s.live_s += r.liveTime_s;
      s.real_s += r.realTime_s;
      const progress = Math.min(1, Math.min(...c.cmd.detectors.map((d) => (c.sums.get(d)?.real_s ?? 0) / c.cmd.duration_s)));
      const id = c.cmd.cmdId;
      if (progress >= 1) {
        this.chain = this.chain.then(() => this.finishCapture(id)).catch((e: unknown) => this.ctx?.fail(e as Error));
      } else if (progress - c.lastProgress >= 0.1) {
        c.lastProgress = progress;
        this.chain = this.chain.then(() => this.progress(c, progress)).catch((e: unknown) => this.ctx?.fail(e as Error));
      }
    }
  }

  private async progress(c: Capture, progress: number): Promise<void> {
    for (const d of c.cmd.detectors) {
      const s = c.sums.get(d);
      await this.ctx!.emit('spectrum', { cmdId: c.cmd.cmdId, detector: d, liveTime_s: s?.live_s ?? 0, realTime_s: s?.real_s ?? 0, progress: Math.round(progress * 1000) / 1000 });
    }
  }

  private async finishCapture(cmdId: string, error?: string): Promise<void> {
    const c = this.captures.get(cmdId);
    if (!c) return;
    this.captures.delete(cmdId);
    clearTimeout(c.timer);
    for (const d of c.cmd.detectors) {
      const s = c.sums.get(d);
      if (error || !s) {
        await this.ctx!.emit('spectrum', { cmdId, detector: d, liveTime_s: s?.live_s ?? 0, realTime_s: s?.real_s ?? 0, progress: 1, error: error ?? 'no spectra arrived from this detector' });
        continue;
      }
      await this.ctx!.emit('spectrum', {
        cmdId,
        detector: d,
        liveTime_s: s.live_s,
        realTime_s: s.real_s,
        progress: 1,
        counts: Array.from(s.counts, (x) => Math.round(x * 1000) / 1000),
        ...(s.calibration ? { calibration: s.calibration } : {}),
      });
    }
    this.ctx?.log.info({ cmdId, error: error ?? null }, 'capture finished');
  }
}

export function createCalibrationStore(spec: ComponentSpec): Component {
  return new CalibrationStore(spec);
}

/** True when `dir` holds an active record for the detector (the CLI's local checks). */
export function hasStoredCalibration(dir: string, detector: string): boolean {
  return existsSync(join(dir, `${encodeURIComponent(detector)}.json`));
}
