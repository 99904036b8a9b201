// The contract between the runtime and what it supervises: device drivers and analysis pipelines.
import type { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { BodyOf, Command, Kind, StatusMsg } from '../protocol/index.js';
import type { ActiveCalibration, Readings } from './readings.js';

export type { ActiveCalibration, Readings, ReadingKind } from './readings.js';

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
