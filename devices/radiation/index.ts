// Registers the gamma spectrometer drivers (N42 folder source, Amptek DP5 serial MCA) and their simulators with the runtime's lazy component registry.
import { registerComponent } from '../../edge/runtime/component.js';

/** Component types this family provides, as a config's `devices[].type` names them. */
export const RADIATION_DEVICE_TYPES = ['n42-folder', 'n42-simulator', 'dp5', 'dp5-simulator'] as const;

/** Adds the types to the registry; each driver module is imported only when a config uses it. Idempotent. */
export function registerRadiationDevices(): void {
  registerComponent('n42-folder', 'device', async () => (await import('./n42-folder.js')).createN42Folder);
  registerComponent('n42-simulator', 'device', async () => (await import('./n42-simulator.js')).createN42Simulator);
  registerComponent('dp5', 'device', async () => (await import('./dp5.js')).createDp5);
  registerComponent('dp5-simulator', 'device', async () => (await import('./dp5-simulator.js')).createDp5Simulator);
}
