// A pipeline's detector `model` option resolved to a response, the same way in every radiation pipeline.
import { DrfError } from '../../analysis/radiation/drf.js';
import type { DetectorModel } from '../../analysis/radiation/dose.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { ConfigError } from '../../common/errors.js';
import type { ComponentSpec } from '../../contract/component.js';
import { resolveDetector, UnknownDetectorError } from '../../devices/radiation/detector-response.js';

/** Schema description of a `model` option (one text, so the three pipelines document the same three forms). */
export const DETECTOR_MODEL_DESCRIPTION = `detector response: a model (${Object.keys(DETECTORS).join(', ')}), a GADRAS-style description's name on the search path (CUSTOMS_DRF_PATH, e.g. NaI_3x3), or its folder (Detector.dat + Efficiency.csv); see docs/detector-responses.md`;

/**
 * A `model` option as a response (resolveDetector: a built-in model name, a description folder, or a description's
 * name on the search path). Resolved while options are checked, so a bad value fails the node at start-up as an
 * option error naming the field (`field`, relative to the pipeline's options, e.g. `detectors/0/model`) with the
 * valid names, rather than when the first spectrum arrives.
 */
export function detectorModelOption(spec: ComponentSpec, field: string, value: string): DetectorModel {
  try {
    return resolveDetector(value);
  } catch (e) {
    if (e instanceof UnknownDetectorError || e instanceof DrfError) {
      throw new ConfigError(`component "${spec.name}" (${spec.type})`, [`pipelines/${spec.name}/options/${field}: ${e.message}`]);
    }
    throw e;
  }
}
