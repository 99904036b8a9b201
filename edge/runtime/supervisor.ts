// Runs the node's components, restarts a crashed one with capped exponential backoff and keeps the others running.
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.js';
import { CustomsError } from '../../common/errors.js';
import type { DriverState } from '../../protocol/index.js';
import type { Component, ComponentContext } from '../../contract/component.js';

/** What the runtime supplies for a component's context; the supervisor adds `signal` and `fail`, which it owns. */
export type ContextBase = Omit<ComponentContext, 'signal' | 'fail'>;

/** One entry of the `components` field of the status message. */
export interface ComponentState {
  kind: Component['kind'];
  state: DriverState;
  restarts: number;
  lastError?: string;
}

/** A state change, as emitted on `state`. */
export interface ComponentStatus extends ComponentState {
  name: string;
}

export interface BackoffOptions {
  /** Delay before the first restart. */
  initial_ms: number;
  max_ms: number;
  factor: number;
  /** A component that ran this long without crashing starts its backoff from `initial_ms` again. */
  resetAfter_ms: number;
}

/** Injectable so tests drive time; `now` must be monotonic. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface SupervisorOptions {
  log: Logger;
  /** Called at every (re)start so a component always gets a fresh context bound to the fresh signal. */
  makeContext: (component: Component, signal: AbortSignal) => ContextBase;
  backoff?: Partial<BackoffOptions>;
  timers?: Timers;
}

export class SupervisorError extends CustomsError {
  constructor(message: string) {
    super('E_SUPERVISOR', message);
  }
}

const DEFAULT_BACKOFF: BackoffOptions = { initial_ms: 500, max_ms: 30_000, factor: 2, resetAfter_ms: 60_000 };

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
};

/** The schema caps lastError so that one long stack cannot make the status message invalid. */
const MAX_ERROR_CHARS = 1024;

interface Slot {
  component: Component;
  state: DriverState;
  restarts: number;
  lastError?: string;
  /** Bumped whenever a run ends, so a late `fail` or `start` settlement of an old run is recognised and ignored. */
  run: number;
  controller?: AbortController;
  /** start() has been called and stop() not yet: the component may hold resources. */
  live: boolean;
  /** Consecutive crashes since the last healthy period; drives the delay. */
  crashes: number;
  runningSince?: number;
  retry?: { handle: unknown };
  /** The launch or crash handling in progress; stop() waits for it so a component's start and stop never overlap. */
  busy: Promise<void>;
}

export class Supervisor extends EventEmitter<{ state: [ComponentStatus] }> {
  private readonly slots: Slot[] = [];
  private readonly backoff: BackoffOptions;
  private readonly timers: Timers;
  private phase: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle';

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.timers = opts.timers ?? realTimers;
  }

  add(component: Component): void {
    if (this.phase !== 'idle') throw new SupervisorError(`cannot add component "${component.name}" after start()`);
    if (this.slots.some((s) => s.component.name === component.name)) {
      throw new SupervisorError(`component name "${component.name}" is already used`);
    }
    this.slots.push({ component, state: 'stopped', restarts: 0, run: 0, live: false, crashes: 0, busy: Promise.resolve() });
  }

  /** The delay before restart number `crashes` (1-based): initial · factor^(crashes-1), capped. */
  delayFor(crashes: number): number {
    const { initial_ms, factor, max_ms } = this.backoff;
    return Math.min(max_ms, initial_ms * factor ** Math.max(0, crashes - 1));
  }

  /**
   * Starts every component in the order added, one after the other (drivers before the pipelines that read them).
   * Resolves when each has started or gone to backoff; a failing component never stops the others.
   */
  async start(): Promise<void> {
    if (this.phase !== 'idle') throw new SupervisorError(`start() called twice`);
    this.phase = 'started';
    for (const slot of this.slots) {
      if (this.phase !== 'started') break;
      slot.busy = this.launch(slot);
      await slot.busy;
    }
  }

  /** Stops every component in reverse order, cancels pending restarts and removes all listeners. */
  async stop(): Promise<void> {
    if (this.phase === 'stopped' || this.phase === 'stopping') return;
    this.phase = 'stopping';
    for (const slot of [...this.slots].reverse()) {
      if (slot.retry) {
        this.timers.clearTimeout(slot.retry.handle);
        slot.retry = undefined;
      }
      slot.controller?.abort(new SupervisorError('supervisor stopping'));
      await slot.busy;
      slot.run++;
      if (slot.live) await this.stopComponent(slot);
      this.setState(slot, 'stopped');
    }
    this.phase = 'stopped';
    this.removeAllListeners();
  }

  statuses(): Record<string, ComponentState> {
    const out: Record<string, ComponentState> = {};
    for (const s of this.slots) out[s.component.name] = this.entry(s);
    return out;
  }

  private entry(s: Slot): ComponentState {
    const e: ComponentState = { kind: s.component.kind, state: s.state, restarts: s.restarts };
    if (s.lastError !== undefined) e.lastError = s.lastError;
    return e;
  }

  private setState(slot: Slot, state: DriverState): void {
    slot.state = state;
    try {
      this.emit('state', { name: slot.component.name, ...this.entry(slot) });
    } catch (err) {
      // A listener's bug must not break the restart machinery of every component.
      this.opts.log.error({ err: (err as Error)?.message ?? String(err) }, 'state listener threw');
    }
  }

  private async launch(slot: Slot): Promise<void> {
    const run = ++slot.run;
    const controller = new AbortController();
    slot.controller = controller;
    slot.runningSince = undefined;
    this.setState(slot, 'starting');
    slot.live = true;
    try {
      await slot.component.start(this.context(slot, run, controller.signal));
    } catch (err) {
      if (this.crashed(slot, run, err)) await this.recover(slot);
      return;
    }
    // fail() during start already ended this run, or stop() is under way and will stop the component itself.
    if (run !== slot.run || this.phase !== 'started') return;
    slot.runningSince = this.timers.now();
    this.setState(slot, 'running');
  }

  private context(slot: Slot, run: number, signal: AbortSignal): ComponentContext {
    const base = this.opts.makeContext(slot.component, signal);
    const ctx: ComponentContext = {
      node: base.node,
      site: base.site,
      log: base.log,
      clock: base.clock,
      signal,
      emit: (kind, body) => base.emit(kind, body),
      fail: (err: Error) => {
        // A crash is handled on its own; the component that called fail() must not wait for its own stop().
        if (this.crashed(slot, run, err)) slot.busy = slot.busy.then(() => this.recover(slot));
      },
    };
    if (base.bus) ctx.bus = base.bus;
    if (base.commands) ctx.commands = base.commands;
    if (base.setPosition) {
      const setPosition = base.setPosition.bind(base);
      ctx.setPosition = (pos) => setPosition(pos);
    }
    return ctx;
  }

  /**
   * Records the crash of run `run` at once (so a late settlement of that run is ignored); false when the run is
   * already over or the supervisor is stopping.
   */
  private crashed(slot: Slot, run: number, err: unknown): boolean {
    if (run !== slot.run || this.phase !== 'started') return false;
    slot.run++;
    const message = err instanceof Error ? err.message : String(err);
    slot.lastError = message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS - 1)}…` : message;
    if (slot.runningSince !== undefined && this.timers.now() - slot.runningSince >= this.backoff.resetAfter_ms) slot.crashes = 0;
    slot.crashes++;
    slot.runningSince = undefined;
    slot.controller?.abort(err);
    this.setState(slot, 'failed');
    return true;
  }

  /** After a crash: stop the component, wait the backoff delay, start it again. */
  private async recover(slot: Slot): Promise<void> {
    await this.stopComponent(slot);
    if (this.phase !== 'started') return;
    const delay = this.delayFor(slot.crashes);
    this.opts.log.warn(
      { component: slot.component.name, err: slot.lastError, delay_ms: delay, crashes: slot.crashes },
      'component crashed, restarting after backoff',
    );
    this.setState(slot, 'backoff');
    const retry = {
      handle: this.timers.setTimeout(() => {
        if (slot.retry !== retry || this.phase !== 'started') return;
        slot.retry = undefined;
        slot.restarts++;
        slot.busy = slot.busy.then(() => this.launch(slot));
      }, delay),
    };
    slot.retry = retry;
  }

  private async stopComponent(slot: Slot): Promise<void> {
    slot.live = false;
    try {
      await slot.component.stop();
    } catch (err) {
      this.opts.log.warn({ component: slot.component.name, err: (err as Error)?.message ?? String(err) }, 'component stop() failed; ignored');
    }
  }
}
