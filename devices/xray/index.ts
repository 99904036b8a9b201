// Registers the X-ray scanner drivers (the drop-folder source) with the runtime's lazy component registry.
import { registerComponent } from '../../edge/runtime/component.js';

/** Component types this family provides, as a config's `devices[].type` names them. */
export const XRAY_DEVICE_TYPES = ['xray-folder'] as const;

/** Adds the types to the registry; the driver module is imported only when a config uses it. Idempotent. */
export function registerXrayDevices(): void {
  registerComponent('xray-folder', 'device', async () => (await import('./folder.js')).createXrayFolder);
}
