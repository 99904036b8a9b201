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

/** The seen-set file beside the per-detector records: not `*.json`, so load() never takes it for a detector. */
export const SEEN_FILE = 'seen-records.v1';

/**
 * Every record a detector ever accepted or refused as old: its id, and the version of each new (non-rollback)
 * calibration. The rules of acceptanceProblem() compare a record with the active one only, so once the active
 * version is back where it was (3 → rolled back to 2 → 4 → rolled back to 3), an old, validly signed rollback
 * "3 → 2" would apply again. A record is signed with its id, so an id seen once is never applied again; a fresh
 * rollback gets a new id from the technician's CLI and is judged on its own.
 */
interface SeenRecords {
  ids: Set<string>;
  versions: Set<number>;
}

interface SeenFileV1 {
  format: 'customs-calibration-seen/1';
  detectors: Record<string, { ids: string[]; versions: number[] }>;
}

class SeenSetError extends CustomsError {
  constructor(message: string) {
    super('E_CALIBRATION_SEEN', message);
  }
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
  private readonly seen = new Map<string, SeenRecords>();
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
    this.loadSeen();
    for (const f of readdirSync(this.opts.dir).filter((x) => x.endsWith('.json'))) {
      const file = join(this.opts.dir, f);
      try {
        const s = JSON.parse(readFileSync(file, 'utf8')) as DetectorState;
        const r = verifyRecord(s.active, this.trusted);
        if (!this.opts.detectors.includes(r.detector)) throw new RecordError(`detector "${r.detector}" is not on this node`);
        this.states.set(r.detector, { active: s.active, maxSeen: Math.max(s.maxSeen ?? 0, r.version) });
        // The active record is written before the seen set (see handleCalibration): a crash in between left it out.
        this.markSeen(r);
      } catch (e) {
        this.ctx?.log.warn({ file, err: (e as Error).message }, 'stored calibration ignored');
      }
    }
    if (this.states.size) this.ctx?.log.info({ calibration: this.versions().calibration }, 'stored calibrations loaded');
  }

  private persist(detector: string, s: DetectorState): void {
    writeAtomic(this.stateFile(detector), this.opts.dir, JSON.stringify(s));
  }

  private get seenFile(): string {
    return join(this.opts.dir, SEEN_FILE);
  }

  /**
   * The seen set from disk. A file that is there but unreadable stops the component: starting with an empty set
   * would quietly accept every old rollback again. No file at all is a first start (or a store from before it).
   */
  private loadSeen(): void {
    const file = this.seenFile;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new SeenSetError(`${file}: cannot read the calibration seen set (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let v: SeenFileV1;
    try {
      v = JSON.parse(text) as SeenFileV1;
    } catch (e) {
      throw new SeenSetError(`${file}: not JSON (${(e as Error).message}); expected the calibration seen set. Restore it from a backup, or remove it to accept records this node saw before`);
    }
    if (v?.format !== 'customs-calibration-seen/1' || typeof v.detectors !== 'object' || v.detectors === null) {
      throw new SeenSetError(`${file}: expected { "format": "customs-calibration-seen/1", "detectors": { ... } }`);
    }
    for (const [det, e] of Object.entries(v.detectors)) {
      const ids = Array.isArray(e?.ids) ? e.ids.filter((x): x is string => typeof x === 'string') : [];
      const versions = Array.isArray(e?.versions) ? e.versions.filter((x): x is number => Number.isInteger(x)) : [];
      if (ids.length !== (e?.ids?.length ?? -1) || versions.length !== (e?.versions?.length ?? -1)) {
        throw new SeenSetError(`${file}: detectors.${det}: expected { "ids": [strings], "versions": [integers] }`);
      }
      this.seen.set(det, { ids: new Set(ids), versions: new Set(versions) });
    }
  }

  private seenOf(detector: string): SeenRecords {
    let s = this.seen.get(detector);
    if (!s) this.seen.set(detector, (s = { ids: new Set(), versions: new Set() }));
    return s;
  }

  /** Adds a record to the in-memory seen set; true when that changed it. */
  private markSeen(r: CalibrationRecord): boolean {
    const s = this.seenOf(r.detector);
    const before = s.ids.size + s.versions.size;
    s.ids.add(r.id);
    if (!r.rollback) s.versions.add(r.version);
    return s.ids.size + s.versions.size !== before;
  }

  /** Why `r` was seen before (its id, or its version as a new calibration), or undefined. */
  private seenBefore(r: CalibrationRecord): string | undefined {
    const s = this.seen.get(r.detector);
    if (!s) return undefined;
    if (s.ids.has(r.id)) return `record ${r.id} was already seen by this node (applied or refused before); a replayed record is never applied again`;
    if (!r.rollback && s.versions.has(r.version)) {
      return `version ${r.version} of ${r.detector} was already seen by this node in another record; sign a higher version or a rollback`;
    }
    return undefined;
  }

  /** Atomically, like the detector records: a temporary file, fsync, rename, fsync of the directory. */
  private persistSeen(): void {
    const out: SeenFileV1 = { format: 'customs-calibration-seen/1', detectors: {} };
    for (const [det, s] of this.seen) out.detectors[det] = { ids: [...s.ids], versions: [...s.versions].sort((a, b) => a - b) };
    writeAtomic(this.seenFile, this.opts.dir, JSON.stringify(out));
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
      // Refused as old (not newer than what was seen, or a rollback from a version that is not active): it joins
      // the seen set, so that it stays refused when the active version later comes back to what it names.
      if (isStale(record, st) && this.markSeen(record)) this.persistSeen();
      log.warn({ cmdId, reason: problem }, 'calibration refused');
      await this.ack('calibration', cmdId, false, problem);
      return;
    }
    // What the rules above allow may still be a replay: they compare with the active record only.
    const replayed = this.seenBefore(record);
    if (replayed) {
      log.warn({ cmdId, reason: replayed }, 'calibration refused');
      await this.ack('calibration', cmdId, false, replayed);
      return;
    }
    const next: DetectorState = { active: envelope as SignedRecord, maxSeen: Math.max(st?.maxSeen ?? 0, record.version) };
    // The record first, then the seen set: a crash in between leaves the record active and load() adds it to the
    // set; the other order could leave a record marked seen that was never applied, and refused when pushed again.
    this.persist(record.detector, next);
    this.states.set(record.detector, next);
    if (this.markSeen(record)) this.persistSeen();
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

/** Refused because something newer was seen: a version not above maxSeen, or a rollback from a version not active. */
function isStale(r: CalibrationRecord, st: DetectorState | undefined): boolean {
  const activeV = st?.active.payload.version ?? 0;
  if (r.rollback) return st !== undefined && (r.rollback.fromVersion !== activeV || r.version >= activeV);
  return r.version <= Math.max(st?.maxSeen ?? 0, activeV);
}

/** Writes `data` to `file` so that a crash leaves the old or the new content, never a mix (fsync, rename, fsync dir). */
function writeAtomic(file: string, dir: string, data: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename is durable only once the directory entry is.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function createCalibrationStore(spec: ComponentSpec): Component {
  return new CalibrationStore(spec);
}

/** True when `dir` holds an active record for the detector (the CLI's local checks). */
export function hasStoredCalibration(dir: string, detector: string): boolean {
  return existsSync(join(dir, `${encodeURIComponent(detector)}.json`));
}
