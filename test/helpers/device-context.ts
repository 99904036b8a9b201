// A ComponentContext for device tests: real SystemClock, silent log, and records of what the component reported.
import { silentLogger } from '../../common/log.js';
import { SystemClock, type TrustMode } from '../../edge/runtime/clock.js';
import { EventEmitter } from 'node:events';
import type { ComponentContext, ReadingBus, Readings, SummaryKind } from '../../contract/component.js';
import type { BodyOf } from '../../protocol/index.js';

export interface DeviceContext {
  ctx: ComponentContext;
  clock: SystemClock;
  controller: AbortController;
  failures: Error[];
  positions: { lat: number; lon: number; height_m?: number }[];
  emitted: { kind: SummaryKind; body: BodyOf<SummaryKind> }[];
  bus: ReadingBus;
  /** Everything published on the bus, by reading kind. */
  published: { [K in keyof Readings]: Readings[K][0][] };
}

export function deviceContext(opts: { trust?: TrustMode; wallNow?: () => number } = {}): DeviceContext {
  const controller = new AbortController();
  const clock = new SystemClock({ trust: opts.trust ?? 'gps', ...(opts.wallNow ? { wallNow: opts.wallNow } : {}) });
  const failures: Error[] = [];
  const positions: DeviceContext['positions'] = [];
  const emitted: DeviceContext['emitted'] = [];
  const bus: ReadingBus = new EventEmitter<Readings>();
  // Every kind of reading is recorded, also kinds added later, without listing them here.
  const store: Record<string, unknown[]> = {};
  const published = new Proxy(store, { get: (o, k: string) => (o[k] ??= []) }) as unknown as DeviceContext['published'];
  const emit = bus.emit.bind(bus) as (event: string, ...args: unknown[]) => boolean;
  (bus as unknown as { emit: typeof emit }).emit = (event, ...args) => {
    (published as unknown as Record<string, unknown[]>)[event]!.push(args[0]);
    return emit(event, ...args);
  };
  const ctx: ComponentContext = {
    node: 'veh-01',
    site: 'test',
    log: silentLogger,
    clock,
    signal: controller.signal,
    async emit(kind, body) {
      emitted.push({ kind, body });
    },
    fail(err) {
      failures.push(err);
    },
    setPosition(p) {
      positions.push(p);
    },
    bus,
  };
  return { ctx, clock, controller, failures, positions, emitted, bus, published };
}
