// Host health figures for the status message: this process's CPU and memory, free memory and disk, uptime.
import { statfs } from 'node:fs/promises';
import { freemem } from 'node:os';

export interface SysSample {
  /** This process's CPU time since the previous sample, as % of one core (can exceed 100 on several cores). */
  cpu_pct: number;
  mem_rss_bytes: number;
  mem_free_bytes: number;
  /** Space available to this (unprivileged) process on the filesystem of `diskPath`. */
  disk_free_bytes: number;
  /** Seconds since this process started. */
  uptime_s: number;
}

export interface Sysinfo {
  sample(): Promise<SysSample>;
}

export function createSysinfo(opts: { diskPath: string }): Sysinfo {
  // The first sample covers the time since creation, so it is meaningful without a warm-up call.
  let lastCpu = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  return {
    async sample(): Promise<SysSample> {
      const fs = await statfs(opts.diskPath);
      const cpu = process.cpuUsage();
      const at = process.hrtime.bigint();
      const used_us = cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
      const elapsed_us = Number(at - lastAt) / 1000;
      lastCpu = cpu;
      lastAt = at;
      return {
        cpu_pct: elapsed_us > 0 ? Math.max(0, (100 * used_us) / elapsed_us) : 0,
        mem_rss_bytes: process.memoryUsage.rss(),
        mem_free_bytes: freemem(),
        // bavail, not bfree: the blocks reserved for root are not ours to fill.
        disk_free_bytes: fs.bavail * fs.bsize,
        uptime_s: process.uptime(),
      };
    },
  };
}
