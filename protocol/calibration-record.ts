// Calibration records: the versioned, signed JSON a technician makes and a node accepts (schema = type, one source).
import { createHash, randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { formatErrors, signPayload, verifyEnvelope, type SignedEnvelope } from './index.js';
import { CustomsError } from '../common/errors.js';

/** A record is not acceptable (schema, detector, validity, version); the message says which and why. */
export class RecordError extends CustomsError {
  constructor(message: string) {
    super('E_CALIBRATION_RECORD', message);
  }
}

export const RECORD_FORMAT = 'customs-calibration/1';

const Num = Type.Number();
const EnergyCal = Type.Object(
  {
    coefficients: Type.Array(Num, { minItems: 2, maxItems: 4 }),
    deviationPairs: Type.Optional(Type.Array(Type.Tuple([Num, Num]), { maxItems: 64 })),
  },
  { additionalProperties: false },
);

/** What analysis uses; the node hands exactly this to its pipelines (contract/component.ts ActiveCalibration). */
export const CalibrationResults = Type.Object(
  {
    energy: Type.Optional(EnergyCal),
    /** FWHM(E) = sqrt(a + b·E + c·E²) keV. */
    resolution: Type.Optional(Type.Object({ a: Num, b: Num, c: Num }, { additionalProperties: false })),
    efficiency: Type.Optional(
      Type.Object(
        { energies_keV: Type.Array(Num, { minItems: 1 }), values: Type.Array(Num, { minItems: 1 }), distance_m: Type.Number({ exclusiveMinimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
    /** Multiplies the G(E) dose rate so that it matches the reference field. */
    doseFactor: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    referenceSpectrum: Type.Optional(
      Type.Object({ counts: Type.Array(Type.Number({ minimum: 0 })), liveTime_s: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false }),
    ),
    /** X-ray flat field: the averaged dark and open-beam references (files beside the record) and their figures. */
    xray: Type.Optional(
      Type.Object(
        {
          dark: Type.Object({ file: Type.String(), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false }),
          open: Type.Object({ file: Type.String(), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false }),
          width: Type.Integer({ minimum: 1 }),
          height: Type.Integer({ minimum: 1 }),
          darkMean: Type.Number(),
          openMean: Type.Number(),
          /** Pixels whose open-beam signal is below 10 % of the median (dead) or dark above the open median (hot). */
          deadPixels: Type.Integer({ minimum: 0 }),
          hotPixels: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** X-ray pseudo-colour palette fitted to a step wedge (the palette file beside the record) and its leave-one-out figures. */
    xrayPalette: Type.Optional(
      Type.Object(
        {
          file: Type.String(),
          sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
          name: Type.String({ minLength: 1, maxLength: 64 }),
          anchors: Type.Integer({ minimum: 2 }),
          looRmsAttenuation: Type.Number(),
          looRmsZeff: Type.Number(),
          looClassErrors: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CalibrationResults = Static<typeof CalibrationResults>;

export const CalibrationRecord = Type.Object(
  {
    format: Type.Literal(RECORD_FORMAT),
    /** Unique id, e.g. "det-a@4-20260121T0830Z"; also the command id the node acknowledges. */
    id: Type.String({ minLength: 1, maxLength: 128 }),
    detector: Type.String({ minLength: 1, maxLength: 64 }),
    /** Increases by one per detector with every new calibration. */
    version: Type.Integer({ minimum: 1 }),
    /** Analyses that produced the results, e.g. ["energy", "resolution"]. */
    method: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
    inputs: Type.Array(Type.Object({ file: Type.String(), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false })),
    results: CalibrationResults,
    /** One-sigma uncertainties of the results, named like them (e.g. "energy.coefficients": [..]). */
    uncertainties: Type.Record(Type.String(), Type.Unknown()),
    technician: Type.String({ minLength: 1, maxLength: 128 }),
    created: Type.String({ format: 'date-time' }),
    validFrom: Type.String({ format: 'date-time' }),
    validUntil: Type.String({ format: 'date-time' }),
    /** An explicit return to an older version: accepted only while `fromVersion` is the active one. */
    rollback: Type.Optional(Type.Object({ fromVersion: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })),
    /** Free text: source serials, conditions. */
    notes: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type CalibrationRecord = Static<typeof CalibrationRecord>;
export type SignedRecord = SignedEnvelope<CalibrationRecord>;

const ajv = new Ajv({ allErrors: true, strict: false });
// Dates are checked by Date.parse below rather than ajv-formats, so the schema compiles with the bare Ajv.
ajv.addFormat('date-time', { validate: (s: string) => /^\d{4}-\d{2}-\d{2}T/.test(s) && Number.isFinite(Date.parse(s)) });
const check = ajv.compile(CalibrationRecord);

/** Validates a record's shape; throws RecordError listing every `path: what was expected`. */
export function parseRecord(value: unknown, where = 'record'): CalibrationRecord {
  if (!check(value)) throw new RecordError(`${where}: not a calibration record\n${formatErrors(check.errors, where).map((l) => `  ${l}`).join('\n')}`);
  const r = value as CalibrationRecord;
  if (Date.parse(r.validUntil) <= Date.parse(r.validFrom)) throw new RecordError(`${where}.validUntil: expected after validFrom (${r.validFrom}), got ${r.validUntil}`);
  const e = r.results.efficiency;
  if (e && e.energies_keV.length !== e.values.length) {
    throw new RecordError(`${where}.results.efficiency: expected as many values as energies, got ${e.values.length} and ${e.energies_keV.length}`);
  }
  return r;
}

/** The version string nodes report in status: "<detector>@<version>". */
export function versionLabel(r: Pick<CalibrationRecord, 'detector' | 'version'>): string {
  return `${r.detector}@${r.version}`;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface NewRecordOptions {
  detector: string;
  version: number;
  method: string[];
  inputs: { file: string; sha256: string }[];
  results: CalibrationResults;
  uncertainties?: Record<string, unknown>;
  technician: string;
  /** Wall-clock ms (the CLI passes Date.now(); tests pass a fixed time). */
  now_ms: number;
  validDays?: number;
  rollback?: { fromVersion: number };
  notes?: string;
}

export function newRecord(o: NewRecordOptions): CalibrationRecord {
  const created = new Date(o.now_ms).toISOString();
  const r: CalibrationRecord = {
    format: RECORD_FORMAT,
    // Time to the second plus a random tag: two records made in the same second (a retry, another key) differ.
    id: `${o.detector}@${o.version}-${created.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`,
    detector: o.detector,
    version: o.version,
    method: o.method,
    inputs: o.inputs,
    results: o.results,
    uncertainties: o.uncertainties ?? {},
    technician: o.technician,
    created,
    validFrom: created,
    validUntil: new Date(o.now_ms + (o.validDays ?? 365) * 86_400_000).toISOString(),
    ...(o.rollback ? { rollback: o.rollback } : {}),
    ...(o.notes ? { notes: o.notes } : {}),
  };
  return parseRecord(r);
}

/** The key id of a technician's key: their name, lower-cased, made safe for a file name and a JSON key. */
export function keyIdOf(technician: string): string {
  const id = technician.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!id) throw new RecordError(`--technician: expected a name with letters or digits, got "${technician}"`);
  return id;
}

export function signRecord(r: CalibrationRecord, privateKeyPem: string, keyId: string): SignedRecord {
  return signPayload(parseRecord(r), privateKeyPem, keyId);
}

/** Signature first (against the trusted keys), then the record's shape; throws SignatureError or RecordError. */
export function verifyRecord(envelope: unknown, trusted: Record<string, string>): CalibrationRecord {
  return parseRecord(verifyEnvelope(envelope, trusted), 'payload');
}

/**
 * Whether a node whose active record for the detector is `active` (and that has seen versions up to `maxSeen`)
 * may apply `r` at `now_ms`. Undefined when it may; otherwise the reason. A new calibration must be newer than
 * anything the node saw (so an old, once-replaced record cannot be replayed); a rollback must name the active
 * version as the one it replaces (so it cannot be replayed after a later calibration).
 */
export function acceptanceProblem(
  r: CalibrationRecord,
  o: { detectors?: readonly string[]; active?: CalibrationRecord; maxSeen?: number; now_ms: number },
): string | undefined {
  if (o.detectors && !o.detectors.includes(r.detector)) {
    return `detector "${r.detector}" is not on this node (expected one of ${o.detectors.join(', ') || 'none'})`;
  }
  if (Date.parse(r.validUntil) <= o.now_ms) return `record ${r.id} expired at ${r.validUntil}`;
  if (Date.parse(r.validFrom) > o.now_ms + 5 * 60_000) return `record ${r.id} is not valid before ${r.validFrom}`;
  const activeV = o.active?.version ?? 0;
  if (r.rollback) {
    if (!o.active) return `rollback to version ${r.version}: no calibration is active for ${r.detector}`;
    if (r.rollback.fromVersion !== activeV) {
      return `rollback from version ${r.rollback.fromVersion}: the active version of ${r.detector} is ${activeV}`;
    }
    if (!(r.version < activeV)) return `rollback to version ${r.version}: expected a version below the active ${activeV}`;
    return undefined;
  }
  const maxSeen = Math.max(o.maxSeen ?? 0, activeV);
  if (!(r.version > maxSeen)) return `version ${r.version} of ${r.detector} is not newer than ${maxSeen} (already seen); sign a higher version or a rollback`;
  return undefined;
}
