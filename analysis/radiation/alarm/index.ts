// Radiation alarms: windows, SPRT arithmetic, the threshold table, the per-sample monitor and rate intervals.
export * from './windows.js';
export * from './sprt.js';
export * from './thresholds.js';
export * from './monitor.js';
export * from './stats.js';
