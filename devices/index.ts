// Registers the device drivers with the runtime's lazy component registry; a node imports only the drivers it runs.
import { componentModule, registerComponent } from '../contract/registry.js';
import { RADIATION_DEVICE_TYPES, registerRadiationDevices } from './radiation/index.js';
import { XRAY_DEVICE_TYPES, registerXrayDevices } from './xray/index.js';

/** Component types this folder provides, as a config's `devices[].type` names them. */
export const DEVICE_TYPES = ['nmea-gps', 'firmata-board', ...RADIATION_DEVICE_TYPES, ...XRAY_DEVICE_TYPES] as const;

/** Adds every device type to the registry; the runtime calls it once at start (calling it again is harmless). */
export function registerDevices(): void {
  registerComponent('nmea-gps', 'device', async () => {
    const m = await import('./gps/driver.js');
    return componentModule({ create: m.createGps, optionsSchema: m.GpsOptionsSchema });
  });
  registerComponent('firmata-board', 'device', async () => {
    const m = await import('./firmata/driver.js');
    return componentModule({ create: m.createFirmataBoard, optionsSchema: m.FirmataBoardOptionsSchema });
  });
  registerRadiationDevices();
  registerXrayDevices();
}
