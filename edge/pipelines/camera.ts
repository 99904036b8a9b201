// The camera node's pipeline: per camera a GStreamer child → detector → tracker → events; only event summaries
// leave the box (frames and crops stay on its disk).
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import sharp from 'sharp';
import { ConfigError } from '../../common/errors.js';
import { formatErrors, type BodyOf, type StatusMsg } from '../../protocol/index.js';
import { CameraSource, type CameraState, type Frame } from '../../devices/camera/source.js';
import { detectorSpecFrom, loadCameraDetector, type CameraDetector } from '../vision/detectors.js';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { CameraAnalyzer } from '../vision/analyzer.js';
import { configPolygonProblems } from '../../analysis/vision/polygon.js';
import type { CameraEvent } from '../../analysis/vision/events.js';

const Point = Type.Tuple([Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })]);

export const CameraOptionsSchema = Type.Object(
  {
    cameras: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,32}$' }),
          uri: Type.Optional(Type.String({ minLength: 3, description: 'file:///x.avi, rtsp://host/stream, v4l2:///dev/video0' })),
          pipeline: Type.Optional(Type.String({ minLength: 1, description: 'GStreamer description of the video source (e.g. videotestsrc is-live=true)' })),
          live: Type.Optional(Type.Boolean()),
          loop: Type.Optional(Type.Boolean({ description: 'replay a file from the start at its end' })),
          exclude: Type.Optional(Type.Array(Type.Array(Point, { minItems: 3 }), { description: 'exclusion masks: polygons in normalised frame coordinates; detections whose foot point (bottom centre) lies inside one are dropped' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 32 },
    ),
    model: Type.Optional(Type.String({ description: 'ONNX detector model card (JSON), e.g. models/camera-detector/model-card.json (the synthetic-scene fixture); same as detector: { kind: "onnx", model }' })),
    detector: Type.Optional(
      Type.Object(
        {
          kind: Type.Optional(Type.Union([Type.Literal('coco'), Type.Literal('onnx')], { description: 'coco (default): pretrained COCO people/luggage detector; onnx: a model card' })),
          model: Type.Optional(Type.String({ minLength: 1, description: 'coco: nanodet (default) or centernet; onnx: model card path' })),
          score: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'score threshold (thresholds.score, then the model default otherwise)' })),
        },
        { additionalProperties: false },
      ),
    ),
    gate: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'motion-gated detection: the detector runs on moving regions and a full frame every fullFrameEvery_s; the tracker carries boxes in between (docs/camera-gating.md)' }),
        fullFrameEvery_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60, description: 'a full-frame detection at least this often (default 3 s)' })),
        refresh_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10, description: 'a moving track is re-detected at least this often (default 0.2 s)' })),
      },
      { additionalProperties: false, default: {} },
    ),
    zones: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1, maxLength: 64 }),
          camera: Type.Optional(Type.String({ description: 'only this camera; all cameras when absent' })),
          polygon: Type.Array(Point, { minItems: 3, description: 'vertices in normalised frame coordinates (0..1)' }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    flagged: Type.Object(
      {
        zones: Type.Array(Type.String(), { default: [], description: 'entering one of these zones flags a person (red-channel desk)' }),
        file: Type.Optional(Type.String({ description: 'JSON {"<camera>": [trackId, ...]} re-read when it changes (officer console)' })),
      },
      { additionalProperties: false, default: {} },
    ),
    thresholds: Type.Object(
      {
        abandon_s: Type.Number({ exclusiveMinimum: 0, default: 30 }),
        dwell_s: Type.Number({ exclusiveMinimum: 0, default: 60 }),
        companion_s: Type.Number({ exclusiveMinimum: 0, default: 10 }),
        score: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'detector score threshold (card default otherwise)' })),
      },
      { additionalProperties: false, default: {} },
    ),
    stillsDir: Type.String({ default: 'camera-stills', description: 'where event crops and the event log are kept on the box' }),
    backoff_ms: Type.Object({ first: Type.Integer({ minimum: 10, default: 1000 }), max: Type.Integer({ minimum: 10, default: 30000 }) }, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type CameraOptions = Static<typeof CameraOptionsSchema>;

const validate = new Ajv({ allErrors: true, strict: true, useDefaults: true }).compile(CameraOptionsSchema);

export function parseCameraOptions(spec: ComponentSpec): CameraOptions {
  const value: unknown = structuredClone(spec.options ?? {});
  if (!validate(value)) throw new ConfigError(`component "${spec.name}" (${spec.type})`, formatErrors(validate.errors, `pipelines/${spec.name}/options`));
  const o = value as CameraOptions;
  const problems: string[] = [];
  const ids = new Set<string>();
  o.cameras.forEach((c, i) => {
    if (!c.uri === !c.pipeline) problems.push(`pipelines/${spec.name}/options/cameras/${i}: expected exactly one of uri or pipeline`);
    if (ids.has(c.id)) problems.push(`pipelines/${spec.name}/options/cameras/${i}/id: "${c.id}" is used twice`);
    ids.add(c.id);
  });
  const zoneIds = new Set(o.zones.map((z) => z.id));
  o.flagged.zones.forEach((z, i) => {
    if (!zoneIds.has(z)) problems.push(`pipelines/${spec.name}/options/flagged/zones/${i}: "${z}" is not one of the zones [${[...zoneIds].join(', ')}]`);
  });
  o.zones.forEach((z, i) => {
    if (z.camera !== undefined && !ids.has(z.camera)) problems.push(`pipelines/${spec.name}/options/zones/${i}/camera: "${z.camera}" is not one of the cameras`);
  });
  problems.push(...configPolygonProblems(o, `pipelines/${spec.name}/options`));
  if (problems.length) throw new ConfigError(`component "${spec.name}" (${spec.type})`, problems);
  return o;
}

/** An event as the box keeps it: the summary plus where its still is (the still itself never leaves). */
export interface LoggedEvent extends CameraEvent {
  eventId: string;
  ts: number;
  still?: string;
}

interface Cam {
  source: CameraSource;
  analyzer: CameraAnalyzer;
  busy: Promise<void>;
  tOffset: number;
  lastT: number;
  frames: number;
}

export class CameraPipeline implements Component {
  readonly kind = 'pipeline' as const;
  private detector: CameraDetector | undefined;
  private cams = new Map<string, Cam>();
  private ctx: ComponentContext | undefined;
  private flagTimer: NodeJS.Timeout | undefined;
  private flagMtime = 0;
  private readonly logged: LoggedEvent[] = [];

  constructor(
    readonly name: string,
    private readonly o: CameraOptions,
  ) {}

  versions(): { models?: Record<string, string> } {
    return this.detector ? { models: { 'camera-detector': `${this.detector.name}@${this.detector.version}` } } : {};
  }

  /** Each camera's ingest state (also written to `<stillsDir>/cameras.json` at every change). */
  cameraStates(): CameraState[] {
    return [...this.cams.values()].map((c) => c.source.state());
  }

  /** The cameras in the node's status message (no frames, no paths: counters and the last error only). */
  statusExtras(): Pick<StatusMsg, 'cameras'> {
    const cameras: NonNullable<StatusMsg['cameras']> = {};
    for (const c of this.cameraStates()) {
      cameras[c.camera] = {
        state: c.state,
        ...(c.width !== undefined ? { width: c.width } : {}),
        ...(c.height !== undefined ? { height: c.height } : {}),
        frames: c.frames,
        dropped: c.dropped,
        reconnects: c.reconnects,
        resolutionChanges: c.resolutionChanges,
        ...(c.lastError !== undefined ? { lastError: c.lastError.slice(0, 1024) } : {}),
      };
    }
    return { cameras };
  }

  /** Track ids flagged on a camera (flag zones, the flagged file). */
  flaggedIds(camera: string): number[] {
    return this.cams.get(camera)?.analyzer.flagged() ?? [];
  }

  /** Events raised since start, as kept in the on-box log. */
  events(): LoggedEvent[] {
    return [...this.logged];
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    mkdirSync(this.o.stillsDir, { recursive: true });
    this.detector = await loadCameraDetector(detectorSpecFrom({ detector: this.o.detector, model: this.o.model, score: this.o.thresholds.score }));
    for (const c of this.o.cameras) {
      const source = new CameraSource({ id: c.id, ...(c.uri ? { uri: c.uri } : {}), ...(c.pipeline ? { pipeline: c.pipeline } : {}), ...(c.live !== undefined ? { live: c.live } : {}), ...(c.loop !== undefined ? { loop: c.loop } : {}), backoff_ms: this.o.backoff_ms, log: ctx.log });
      const analyzer = new CameraAnalyzer({
        camera: c.id,
        detector: this.detector,
        zones: this.o.zones.filter((z) => z.camera === undefined || z.camera === c.id).map((z) => ({ id: z.id, polygon: z.polygon as [number, number][] })),
        ...(c.exclude ? { exclude: c.exclude as [number, number][][] } : {}),
        ...(this.o.gate.enabled ? { gate: { ...(this.o.gate.fullFrameEvery_s !== undefined ? { fullFrameEvery_s: this.o.gate.fullFrameEvery_s } : {}), ...(this.o.gate.refresh_s !== undefined ? { refresh_s: this.o.gate.refresh_s } : {}) } } : {}),
        rules: { abandon_s: this.o.thresholds.abandon_s, dwell_s: this.o.thresholds.dwell_s, companion_s: this.o.thresholds.companion_s, flagZones: this.o.flagged.zones },
      });
      const cam: Cam = { source, analyzer, busy: Promise.resolve(), tOffset: 0, lastT: -Infinity, frames: 0 };
      this.cams.set(c.id, cam);
      source.on('frame', (f) => this.onFrame(cam, f));
      source.on('state', () => this.writeStates());
      source.on('resolution', (r) => {
        ctx.log.warn({ camera: r.camera, from: r.from, to: r.to }, 'resolution changed: tracks and event state restart for this camera');
      });
    }
    if (this.o.flagged.file) {
      this.readFlags();
      this.flagTimer = setInterval(() => this.readFlags(), 1000);
    }
    for (const cam of this.cams.values()) await cam.source.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.flagTimer);
    await Promise.all([...this.cams.values()].map((c) => c.source.stop()));
    await Promise.all([...this.cams.values()].map((c) => c.busy));
    for (const c of this.cams.values()) c.source.removeAllListeners();
    this.writeStates();
    this.cams.clear();
    await this.detector?.close();
    this.detector = undefined;
  }

  private onFrame(cam: Cam, f: Frame): void {
    // Frames of one camera are analysed in order; the child sends the next only after ready().
    cam.busy = cam.busy.then(async () => {
      try {
        // A replayed file restarts its clock at 0: keep the camera's time monotonic for the tracker.
        let t = f.t_s + cam.tOffset;
        if (t <= cam.lastT) {
          cam.tOffset += cam.lastT - t + 0.1;
          t = f.t_s + cam.tOffset;
        }
        cam.lastT = t;
        const r = await cam.analyzer.process({ ...f, t_s: t });
        cam.frames++;
        for (const ev of r.events) await this.raise(ev, f);
      } catch (e) {
        // One bad frame must not stop the camera; a broken detector shows in every frame's log line.
        this.ctx?.log.error({ camera: f.camera, err: (e as Error).message }, 'frame analysis failed');
      } finally {
        cam.source.ready();
      }
    });
  }

  private async raise(ev: CameraEvent, f: Frame): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const eventId = randomUUID();
    let still: string | undefined;
    try {
      still = join(this.o.stillsDir, `${eventId}.jpg`);
      await writeStill(f, ev.bbox, still);
    } catch (e) {
      ctx.log.warn({ err: (e as Error).message, eventId }, 'cannot write event still');
      still = undefined;
    }
    const logged: LoggedEvent = { ...ev, eventId, ts: ctx.clock.now().ts, ...(still ? { still } : {}) };
    this.logged.push(logged);
    try {
      appendFileSync(join(this.o.stillsDir, 'events.jsonl'), `${JSON.stringify(logged)}\n`);
    } catch (e) {
      ctx.log.warn({ err: (e as Error).message }, 'cannot append to the event log');
    }
    const body: BodyOf<'event'> = {
      eventId,
      camera: ev.camera,
      type: ev.type,
      trackIds: ev.trackIds.slice(0, 64),
      bbox: ev.bbox.map((v) => Math.round(v)) as [number, number, number, number],
      ...(ev.zone !== undefined ? { zone: ev.zone } : {}),
      ...(ev.duration_s !== undefined ? { duration_s: ev.duration_s } : {}),
    };
    ctx.log.info({ camera: ev.camera, type: ev.type, trackIds: ev.trackIds, t_s: ev.t_s, still }, 'camera event');
    await ctx.emit('event', body);
  }

  private readFlags(): void {
    const file = this.o.flagged.file;
    if (!file) return;
    try {
      const m = statSync(file).mtimeMs;
      if (m === this.flagMtime) return;
      this.flagMtime = m;
      const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected {"<camera>": [trackId, ...]}');
      for (const [cam, ids] of Object.entries(v as Record<string, unknown>)) {
        const c = this.cams.get(cam);
        if (!c) {
          this.ctx?.log.warn({ file, camera: cam }, `flagged file: unknown camera "${cam}"`);
          continue;
        }
        if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) throw new Error(`/${cam}: expected an array of track ids`);
        for (const id of ids as number[]) c.analyzer.flag(id);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.ctx?.log.warn({ file, err: (e as Error).message }, 'flagged file ignored');
    }
  }

  private writeStates(): void {
    try {
      const file = join(this.o.stillsDir, 'cameras.json');
      writeFileSync(`${file}.tmp`, JSON.stringify(this.cameraStates()));
      renameSync(`${file}.tmp`, file);
    } catch {
      // The directory may be gone at shutdown; the states are in the log too.
    }
  }
}

/** Crops the event box (with a margin) out of the frame and writes it as JPEG on the box. */
export async function writeStill(f: Pick<Frame, 'data' | 'width' | 'height'>, bbox: readonly number[], file: string): Promise<void> {
  const [x1, y1, x2, y2] = bbox as [number, number, number, number];
  const mx = (x2 - x1) * 0.25;
  const my = (y2 - y1) * 0.25;
  const left = Math.max(0, Math.floor(x1 - mx));
  const top = Math.max(0, Math.floor(y1 - my));
  const right = Math.min(f.width, Math.ceil(x2 + mx));
  const bottom = Math.min(f.height, Math.ceil(y2 + my));
  if (right - left < 1 || bottom - top < 1) throw new Error(`box ${JSON.stringify(bbox)} is outside the ${f.width}x${f.height} frame`);
  await sharp(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength), { raw: { width: f.width, height: f.height, channels: 3 } })
    .extract({ left, top, width: right - left, height: bottom - top })
    .jpeg({ quality: 85 })
    .toFile(file);
}

export function createCamera(spec: ComponentSpec): CameraPipeline {
  return new CameraPipeline(spec.name, parseCameraOptions(spec));
}
