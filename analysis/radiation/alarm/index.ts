// Radiation alarms: windows, SPRT arithmetic, the threshold table, over-dispersion, the spectral test, the per-sample monitor and rate intervals.
export * from './windows.js';
export * from './sprt.js';
export * from './thresholds.js';
export * from './dispersion.js';
export * from './spectral.js';
export * from './types.js';
export * from './monitor.js';
export * from './stats.js';
