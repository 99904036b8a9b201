// Registers the X-ray scanner drivers (the drop-folder source) with the runtime's lazy component registry.
import { componentModule, registerComponent } from '../../contract/registry.js';

/** Component types this family provides, as a config's `devices[].type` names them. */
export const XRAY_DEVICE_TYPES = ['xray-folder'] as const;

/** Adds the types to the registry; the driver module is imported only when a config uses it. Idempotent. */
export function registerXrayDevices(): void {
  registerComponent('xray-folder', 'device', async () => {
    const m = await import('./folder.js');
    return componentModule({ create: m.createXrayFolder, optionsSchema: m.XrayFolderOptionsSchema });
  });
}
