// The contract between the runtime and what it supervises: device drivers and analysis pipelines.
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.js';
import type { BodyOf, Command, Kind, StatusMsg } from '../../protocol/index.js';

/** Kinds a component may emit through the outbox (status is the runtime's own). */
export type SummaryKind = Exclude<Kind, 'status'>;

export interface ClockReading {
  /** Wall-clock ms since the epoch. */
  ts: number;
  /** True when the wall clock has been synchronised (GPS or NTP) since boot. */
  tsTrusted: boolean;
  /** Monotonic ms since the process booted. */
  mono_ms: number;
}

export interface Clock {
  now(): ClockReading;
  /** A time source (GPS fix, NTP check) says the wall clock is now right. */
  markTrusted(source: 'gps' | 'ntp' | 'assume'): void;
  readonly trusted: boolean;
}

/**
 * Readings devices share with pipelines inside one node (never over MQTT). Times are wall-clock ms from the
 * node's clock; positions WGS84.
 */
export interface Readings {
  spectrum: [
    {
      detector: string;
      counts: Float64Array;
      liveTime_s: number;
      realTime_s: number;
      time_ms: number;
      calibration?: { coefficients: number[]; deviationPairs?: [number, number][] };
      position?: { lat: number; lon: number; height_m?: number };
    },
  ];
  gm: [{ cps: number; time_ms: number }];
  gps: [{ lat: number; lon: number; height_m?: number; fix: number; hdop?: number; time_ms: number }];
  temperature: [{ celsius: number; sensor: string; time_ms: number }];
  /** A verified calibration record became active for a detector (pipelines apply it without a restart). */
  calibration: [ActiveCalibration];
  /**
   * An X-ray scan found by a folder driver (the images stay on the box: only paths travel). The driver hands over
   * one scan at a time and waits: the pipeline calls `done()` once the scan's summary is in the outbox, and only
   * then is the scan marked processed (exactly once across restarts).
   */
  xrayScan: [
    {
      scanId: string;
      high?: string;
      low?: string;
      /** The scanner's JSON sidecar as read (validated by the driver; see edge/xray/inspect.ts SidecarSchema). */
      sidecar?: { scanId: string; [k: string]: unknown };
      /** What is wrong with the scan as found (missing half of a pair, unreadable sidecar): it goes to review. */
      problems?: string[];
      time_ms: number;
      done: (err?: Error) => void;
    },
  ];
}

/**
 * The parts of a signed calibration record that analysis uses, for one detector. Energy is
 * E = c0 + c1·ch + c2·ch² (+ deviation pairs); FWHM(E) = sqrt(a + b·E + c·E²) keV; `doseFactor` scales the
 * spectrum (G(E)) dose rate; `efficiency` is the full-energy-peak efficiency at the calibration geometry.
 */
export interface ActiveCalibration {
  detector: string;
  /** Record id and version as the technician CLI names it, e.g. "det-a@4"; reported in status. */
  version: string;
  energy?: { coefficients: number[]; deviationPairs?: [number, number][] };
  resolution?: { a: number; b: number; c: number };
  efficiency?: { energies_keV: number[]; values: number[]; distance_m: number };
  doseFactor?: number;
  /** Background at nominal gain taken with this calibration (reference for the gain stabiliser). */
  referenceSpectrum?: { counts: number[]; liveTime_s: number };
}

/**
 * Commands addressed to this node (`customs/v1/<site>/<node>/cmd/<command>`), as the broker delivered them: raw
 * payload, not yet verified. Retained commands arrive again on every reconnect, so handlers must be idempotent
 * (by record version or command id). A handler answers with `ctx.emit('ack', { cmd, cmdId, ok, reason })`.
 */
export type Commands = { [C in Command]: [payload: Buffer, topic: string] };
export type CommandBus = EventEmitter<Commands>;

/** The node's in-process reading bus: a typed EventEmitter the runtime owns (listeners removed in stop()). */
export type ReadingBus = EventEmitter<Readings>;

export interface ComponentContext {
  readonly node: string;
  readonly site: string;
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborted when the component is being stopped; long loops check it. */
  readonly signal: AbortSignal;
  /** Hands a summary to the durable outbox; resolves once it is on disk (per the fsync policy). */
  emit<K extends SummaryKind>(kind: K, body: BodyOf<K>): Promise<void>;
  /** Reports a fatal error from asynchronous work: the supervisor stops the component and restarts it with backoff. */
  fail(err: Error): void;
  /** Shares the node's latest position (from GPS) with the status message. */
  setPosition?(pos: { lat: number; lon: number; height_m?: number }): void;
  /** Devices publish readings here; pipelines listen (and remove their listeners in stop()). */
  bus?: ReadingBus;
  /** Commands from the cloud or a technician, one event per command name; listeners removed in stop(). */
  commands?: CommandBus;
}

/**
 * A device driver or a pipeline. Constructors only keep their options; `start` does the work and resolves
 * once the component runs (rejecting means it failed to start); `stop` releases everything and resolves
 * when done. A component never throws from timers or callbacks: it calls `ctx.fail` instead.
 */
export interface Component {
  readonly name: string;
  readonly kind: 'device' | 'pipeline';
  start(ctx: ComponentContext): Promise<void>;
  stop(): Promise<void>;
  /** Versions reported in status (calibration per detector, model names). */
  versions?(): { calibration?: Record<string, string>; models?: Record<string, string> };
  /** Parts of the status a component knows best (cameras of a camera node), merged into the node's status. */
  statusExtras?(): Pick<StatusMsg, 'cameras'>;
}

export interface ComponentSpec {
  name: string;
  type: string;
  options?: Record<string, unknown>;
}

export type ComponentFactory = (spec: ComponentSpec) => Component;

/**
 * Lazy registry: each type maps to a loader so that a node only imports the drivers it runs. An unknown type
 * throws and lists the valid ones.
 */
const registry: Record<string, { kind: 'device' | 'pipeline'; load: () => Promise<ComponentFactory> }> = {
  synthetic: { kind: 'pipeline', load: async () => (await import('../pipelines/synthetic.js')).createSynthetic },
  radiation: { kind: 'pipeline', load: async () => (await import('../pipelines/radiation.js')).createRadiation },
  camera: { kind: 'pipeline', load: async () => (await import('../pipelines/camera.js')).createCamera },
  localize: { kind: 'pipeline', load: async () => (await import('../pipelines/localize.js')).createLocalize },
  handheld: { kind: 'pipeline', load: async () => (await import('../pipelines/handheld.js')).createHandheld },
  xray: { kind: 'pipeline', load: async () => (await import('../pipelines/xray.js')).createXray },
  calibration: { kind: 'pipeline', load: async () => (await import('./calibration-store.js')).createCalibrationStore },
};

export function registerComponent(type: string, kind: 'device' | 'pipeline', load: () => Promise<ComponentFactory>): void {
  registry[type] = { kind, load };
}

export function componentTypes(): string[] {
  return Object.keys(registry).sort();
}

export async function createComponent(spec: ComponentSpec): Promise<Component> {
  const entry = registry[spec.type];
  if (!entry) {
    throw new Error(`component "${spec.name}": unknown type "${spec.type}", expected one of ${componentTypes().join(', ')}`);
  }
  return (await entry.load())(spec);
}
