// Readings that devices hand to pipelines inside one node (never over MQTT), and the calibration a pipeline applies:
// one TypeBox source gives both the TS types and the JSON schemas (drivers and simulators validate against them).
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';

const Float64ArrayT: TUnsafe<Float64Array> = Type.Unsafe<Float64Array>({ description: 'Float64Array of counts per channel' });
const DoneT: TUnsafe<(err?: Error) => void> = Type.Unsafe<(err?: Error) => void>({ description: 'call once the scan is handled' });

export const CalibrationCoefficientsSchema = Type.Object({
  coefficients: Type.Array(Type.Number(), { minItems: 2, description: 'E = c0 + c1·ch + c2·ch² (keV)' }),
  deviationPairs: Type.Optional(Type.Array(Type.Tuple([Type.Number(), Type.Number()]))),
});

const PositionSchema = Type.Object({ lat: Type.Number(), lon: Type.Number(), height_m: Type.Optional(Type.Number()) });

/** One spectrum from one detector. Times are wall-clock ms from the node's clock; positions WGS84. */
export const SpectrumReadingSchema = Type.Object({
  detector: Type.String({ minLength: 1 }),
  counts: Float64ArrayT,
  liveTime_s: Type.Number({ exclusiveMinimum: 0 }),
  realTime_s: Type.Number({ minimum: 0 }),
  time_ms: Type.Number(),
  calibration: Type.Optional(CalibrationCoefficientsSchema),
  position: Type.Optional(PositionSchema),
});
export type SpectrumReading = Static<typeof SpectrumReadingSchema>;

export const GmReadingSchema = Type.Object({ cps: Type.Number({ minimum: 0 }), time_ms: Type.Number() });
export const GpsReadingSchema = Type.Object({
  lat: Type.Number({ minimum: -90, maximum: 90 }),
  lon: Type.Number({ minimum: -180, maximum: 180 }),
  height_m: Type.Optional(Type.Number()),
  fix: Type.Integer({ minimum: 0 }),
  hdop: Type.Optional(Type.Number({ minimum: 0 })),
  time_ms: Type.Number(),
});
export const TemperatureReadingSchema = Type.Object({ celsius: Type.Number(), sensor: Type.String(), time_ms: Type.Number() });

/**
 * The parts of a signed calibration record that analysis uses, for one detector. Energy is
 * E = c0 + c1·ch + c2·ch² (+ deviation pairs); FWHM(E) = sqrt(a + b·E + c·E²) keV; `doseFactor` scales the
 * spectrum (G(E)) dose rate; `efficiency` is the full-energy-peak efficiency at the calibration geometry.
 */
export const ActiveCalibrationSchema = Type.Object({
  detector: Type.String({ minLength: 1 }),
  /** Record id and version as the technician CLI names it, e.g. "det-a@4"; reported in status. */
  version: Type.String({ minLength: 1 }),
  energy: Type.Optional(CalibrationCoefficientsSchema),
  resolution: Type.Optional(Type.Object({ a: Type.Number(), b: Type.Number(), c: Type.Number() })),
  efficiency: Type.Optional(Type.Object({ energies_keV: Type.Array(Type.Number()), values: Type.Array(Type.Number()), distance_m: Type.Number() })),
  doseFactor: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** Background at nominal gain taken with this calibration (reference for the gain stabiliser). */
  referenceSpectrum: Type.Optional(Type.Object({ counts: Type.Array(Type.Number()), liveTime_s: Type.Number() })),
});
export type ActiveCalibration = Static<typeof ActiveCalibrationSchema>;

/** The scanner's JSON sidecar. */
export const SidecarSchema = Type.Object(
  {
    scanId: Type.String({ minLength: 1, maxLength: 128 }),
    scanner: Type.Optional(Type.String({ maxLength: 128 })),
    energies_kV: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 2 })),
    pitch_cm: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'pixel size at the belt' })),
    declaration: Type.Optional(
      Type.Object(
        {
          hsCode: Type.Optional(Type.String({ maxLength: 16 })),
          goods: Type.Optional(Type.String({ maxLength: 256 })),
          weight_kg: Type.Optional(Type.Number({ minimum: 0 })),
          origin: Type.Optional(Type.String({ maxLength: 64 })),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: true },
);
export type Sidecar = Static<typeof SidecarSchema>;

/**
 * An X-ray scan found by a folder driver (the images stay on the box: only paths travel). The driver hands over
 * one scan at a time and waits: the pipeline calls `done()` once the scan's summary is in the outbox, and only
 * then is the scan marked processed (exactly once across restarts).
 */
export const XrayScanReadingSchema = Type.Object({
  scanId: Type.String({ minLength: 1 }),
  high: Type.Optional(Type.String()),
  low: Type.Optional(Type.String()),
  /** The scanner's JSON sidecar as read (validated by the driver against SidecarSchema). */
  sidecar: Type.Optional(Type.Intersect([Type.Object({ scanId: Type.String() }), Type.Record(Type.String(), Type.Unknown())])),
  /** What is wrong with the scan as found (missing half of a pair, unreadable sidecar): it goes to review. */
  problems: Type.Optional(Type.Array(Type.String())),
  time_ms: Type.Number(),
  done: DoneT,
});

/** Every reading kind and its schema: the bus's event map is derived from it. */
export const READING_SCHEMAS = {
  spectrum: SpectrumReadingSchema,
  gm: GmReadingSchema,
  gps: GpsReadingSchema,
  temperature: TemperatureReadingSchema,
  /** A verified calibration record became active for a detector (pipelines apply it without a restart). */
  calibration: ActiveCalibrationSchema,
  xrayScan: XrayScanReadingSchema,
} as const;
export type ReadingKind = keyof typeof READING_SCHEMAS;

/** The reading bus's event map: one argument per event, its type from the schema above. */
export type Readings = { [K in ReadingKind]: [Static<(typeof READING_SCHEMAS)[K]>] };
