// Registers the gamma spectrometer drivers (N42 folder source, Amptek DP5 serial MCA) and their simulators with the runtime's lazy component registry.
import { componentModule, registerComponent } from '../../contract/registry.js';

/** Component types this family provides, as a config's `devices[].type` names them. */
export const RADIATION_DEVICE_TYPES = ['n42-folder', 'n42-simulator', 'dp5', 'dp5-simulator'] as const;

/**
 * Adds the types to the registry; each driver module is imported only when a config uses it. Idempotent.
 * Only the drivers publish spectra on the reading bus: the simulators write files or speak over a pty, and a driver
 * reads them. The detector ids of an N42 folder are in its files, so a config cannot say them.
 */
export function registerRadiationDevices(): void {
  registerComponent('n42-folder', 'device', async () => {
    const m = await import('./n42-folder.js');
    return componentModule({ create: m.createN42Folder, optionsSchema: m.N42FolderOptionsSchema, providesDetectors: () => 'unknown' });
  });
  registerComponent('n42-simulator', 'device', async () => {
    const m = await import('./n42-simulator.js');
    return componentModule({ create: m.createN42Simulator, optionsSchema: m.N42SimulatorOptionsSchema });
  });
  registerComponent('dp5', 'device', async () => {
    const m = await import('./dp5.js');
    return componentModule({ create: m.createDp5, optionsSchema: m.Dp5OptionsSchema, providesDetectors: (o) => [o.detector] });
  });
  registerComponent('dp5-simulator', 'device', async () => {
    const m = await import('./dp5-simulator.js');
    return componentModule({ create: m.createDp5Simulator, optionsSchema: m.Dp5SimulatorOptionsSchema });
  });
}
