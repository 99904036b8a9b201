// The node's clock: wall time plus whether it can be trusted (NTP, GPS, assumed, never) and a monotonic offset.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import type { Logger } from '../../common/log.js';
import type { Clock, ClockReading } from '../../contract/component.js';

export type TrustMode = 'ntp' | 'gps' | 'assume' | 'never';

/** A wall clock before this is wrong whatever a source claims: a box without an RTC boots in 1970. */
export const EARLIEST_PLAUSIBLE_MS = Date.UTC(2020, 0, 1);

export interface SystemClockOptions {
  trust: TrustMode;
  /** Wall-clock ms since the epoch (default Date.now). */
  wallNow?: () => number;
  /** Monotonic ms (default performance.now relative to construction). */
  monoNow?: () => number;
  /** For `ntp`: resolves true when the system clock is NTP-synchronised (default: systemd-timesyncd / timedatectl). */
  ntpCheck?: () => Promise<boolean>;
  /** For `ntp`: least time between two checks while not yet trusted (default 60 s). */
  ntpRecheck_ms?: number;
  log?: Logger;
}

/**
 * Trust is sticky: once a source accepted by the configured mode vouches for the wall clock, it stays trusted
 * for this boot (the status field means "synchronised since boot"). Only the configured source counts, so an
 * operator who chose `gps` is not overruled by an NTP server they do not control. NTP checks run in the
 * background from `now()` and never block it; `refresh()` lets the runtime await one before it starts.
 */
export class SystemClock implements Clock {
  private readonly wallNow: () => number;
  private readonly monoNow: () => number;
  private readonly ntpCheck: () => Promise<boolean>;
  private readonly recheck_ms: number;
  private marked: boolean;
  private lastCheck_ms: number | undefined;
  private checking: Promise<boolean> | undefined;

  constructor(private readonly opts: SystemClockOptions) {
    this.wallNow = opts.wallNow ?? Date.now;
    if (opts.monoNow) {
      this.monoNow = opts.monoNow;
    } else {
      const t0 = performance.now();
      this.monoNow = () => performance.now() - t0;
    }
    this.ntpCheck = opts.ntpCheck ?? systemNtpSynchronized;
    this.recheck_ms = opts.ntpRecheck_ms ?? 60_000;
    this.marked = opts.trust === 'assume';
  }

  get trusted(): boolean {
    return this.marked && this.wallNow() >= EARLIEST_PLAUSIBLE_MS;
  }

  now(): ClockReading {
    const ts = Math.floor(this.wallNow());
    const mono_ms = Math.max(0, this.monoNow());
    if (!this.marked && this.opts.trust === 'ntp') this.maybeCheck(mono_ms);
    return { ts, tsTrusted: this.marked && ts >= EARLIEST_PLAUSIBLE_MS, mono_ms };
  }

  markTrusted(source: 'gps' | 'ntp' | 'assume'): void {
    if (this.marked || source !== this.opts.trust) return;
    this.marked = true;
    this.opts.log?.info({ source, ts: this.wallNow() }, 'wall clock trusted');
  }

  /** Runs an NTP check now (or joins the one in flight) and resolves to whether the clock is trusted afterwards. */
  async refresh(): Promise<boolean> {
    if (!this.marked && this.opts.trust === 'ntp') await this.check(Math.max(0, this.monoNow()));
    return this.trusted;
  }

  private maybeCheck(mono_ms: number): void {
    if (this.checking || (this.lastCheck_ms !== undefined && mono_ms - this.lastCheck_ms < this.recheck_ms)) return;
    // check() never rejects, so this background promise cannot go unhandled.
    void this.check(mono_ms);
  }

  private check(mono_ms: number): Promise<boolean> {
    if (this.checking) return this.checking;
    this.lastCheck_ms = mono_ms;
    // Started from a resolved promise so that a check that throws synchronously is handled like a rejection.
    this.checking = Promise.resolve()
      .then(() => this.ntpCheck())
      .then(
        (ok) => ok,
        (err: unknown) => {
          this.opts.log?.warn({ err: (err as Error)?.message ?? String(err) }, 'NTP check failed; clock stays untrusted');
          return false;
        },
      )
      .then((ok) => {
        this.checking = undefined;
        if (ok) this.markTrusted('ntp');
        return ok;
      });
    return this.checking;
  }
}

/** True when systemd-timesyncd reports sync (its flag file) or timedatectl says NTPSynchronized=yes. */
export async function systemNtpSynchronized(): Promise<boolean> {
  try {
    await access('/run/systemd/timesync/synchronized');
    return true;
  } catch {
    // no timesyncd flag: ask timedatectl, which also covers chrony and ntpd through timedated
  }
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 5000 }, (err, stdout) => {
      resolve(!err && String(stdout).trim() === 'yes');
    });
  });
}

/** A fresh id for this process start: 16 random hex characters (the envelope's `boot`). */
export function bootId(): string {
  return randomBytes(8).toString('hex');
}
