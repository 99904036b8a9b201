// Registers the pipelines with the lazy component registry; a node imports only the pipelines its config names.
import { componentModule, registerComponent } from '../../contract/registry.js';

/** Component types this folder provides, as a config's `pipelines[].type` names them. */
export const PIPELINE_TYPES = ['synthetic', 'radiation', 'camera', 'localize', 'handheld', 'xray', 'calibration'] as const;

/**
 * Adds every pipeline type to the registry; the runtime calls it once at start (calling it again is harmless).
 * The spectrum pipelines also say which detector ids they read, so a config naming one no device provides fails
 * its check instead of waiting silently for spectra that never come.
 */
export function registerPipelines(): void {
  registerComponent('synthetic', 'pipeline', async () => {
    const m = await import('./synthetic.js');
    return componentModule({ create: m.createSynthetic, optionsSchema: m.SyntheticOptionsSchema });
  });
  registerComponent('radiation', 'pipeline', async () => {
    const m = await import('./radiation.js');
    return componentModule({
      create: m.createRadiation,
      optionsSchema: m.RadiationOptionsSchema,
      readsDetectors: (o) => o.detectors.map((d, i) => ({ field: `detectors/${i}/id`, id: d.id })),
    });
  });
  registerComponent('camera', 'pipeline', async () => {
    const m = await import('./camera.js');
    return componentModule({ create: m.createCamera, optionsSchema: m.CameraOptionsSchema });
  });
  registerComponent('localize', 'pipeline', async () => {
    const m = await import('./localize.js');
    return componentModule({
      create: m.createLocalize,
      optionsSchema: m.LocalizeOptionsSchema,
      readsDetectors: (o) => o.detectors.map((d, i) => ({ field: `detectors/${i}/id`, id: d.id })),
    });
  });
  registerComponent('handheld', 'pipeline', async () => {
    const m = await import('./handheld.js');
    return componentModule({
      create: m.createHandheld,
      optionsSchema: m.HandheldOptionsSchema,
      // Without an id the handheld takes spectra of any detector.
      readsDetectors: (o) => (o.detector.id === undefined ? [] : [{ field: 'detector/id', id: o.detector.id }]),
    });
  });
  registerComponent('xray', 'pipeline', async () => {
    const m = await import('./xray.js');
    return componentModule({ create: m.createXray, optionsSchema: m.XrayOptionsSchema });
  });
  registerComponent('calibration', 'pipeline', async () => {
    const m = await import('../runtime/calibration-store.js');
    return componentModule({
      create: m.createCalibrationStore,
      optionsSchema: m.CalibrationStoreOptionsSchema,
      readsDetectors: (o) => o.detectors.map((id, i) => ({ field: `detectors/${i}`, id })),
    });
  });
}
