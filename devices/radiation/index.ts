// Registers the gamma spectrometer drivers (N42 folder source and its simulator) with the runtime's lazy component registry.
import { registerComponent } from '../../edge/runtime/component.js';

/** Component types this family provides, as a config's `devices[].type` names them. */
export const RADIATION_DEVICE_TYPES = ['n42-folder', 'n42-simulator'] as const;

/** Adds the types to the registry; each driver module is imported only when a config uses it. Idempotent. */
export function registerRadiationDevices(): void {
  registerComponent('n42-folder', 'device', async () => (await import('./n42-folder.js')).createN42Folder);
  registerComponent('n42-simulator', 'device', async () => (await import('./n42-simulator.js')).createN42Simulator);
}
