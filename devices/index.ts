// Registers the device drivers with the runtime's lazy component registry; a node imports only the drivers it runs.
import { registerComponent } from '../edge/runtime/component.js';
import { RADIATION_DEVICE_TYPES, registerRadiationDevices } from './radiation/index.js';
import { XRAY_DEVICE_TYPES, registerXrayDevices } from './xray/index.js';

/** Component types this folder provides, as a config's `devices[].type` names them. */
export const DEVICE_TYPES = ['nmea-gps', 'firmata-board', ...RADIATION_DEVICE_TYPES, ...XRAY_DEVICE_TYPES] as const;

/** Adds every device type to the registry; the runtime calls it once at start (calling it again is harmless). */
export function registerDevices(): void {
  registerComponent('nmea-gps', 'device', async () => (await import('./gps/driver.js')).createGps);
  registerComponent('firmata-board', 'device', async () => (await import('./firmata/driver.js')).createFirmataBoard);
  registerRadiationDevices();
  registerXrayDevices();
}
