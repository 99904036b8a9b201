// Payload schemas of every message kind: the single source of truth for both the JSON schema and the TS type.
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { ID_PATTERN, type Kind } from './topics.js';

/** Bumped when a payload changes incompatibly; the aggregator accepts the versions it knows. */
export const SCHEMA_VERSION = 1;

/*
 * Bounds that keep every accepted message storable. InfluxDB refuses what line protocol or its types cannot hold,
 * and by then the aggregator has confirmed the message to its node; so what would be refused is refused here, at
 * validation (dead-lettered with the failing field, never confirmed). JSON numbers are finite after parsing except
 * for overflow to Infinity, which Ajv's strict numbers refuse.
 */

/** Largest integer a number holds exactly; also well inside InfluxDB's int64 fields. */
export const MAX_INT = Number.MAX_SAFE_INTEGER;
/**
 * Largest ms time InfluxDB can store: points are int64 ns, and the aggregator appends six sub-ms digits (seq), so
 * ts * 10^6 + 999999 must stay below 2^63 (the year 2262).
 */
export const MAX_TS_MS = 9_223_372_036_853;
/**
 * Detector ids become the `detector` tag of every per-detector point, so they are short names, not free text: an
 * unbounded id set exhausts InfluxDB's max-values-per-tag for every node (the aggregator also caps them per node).
 */
export const DETECTOR_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,32}$';
/**
 * Other strings that become tag values (nuclide, camera, command name): no control characters, since line protocol
 * has no escape for a newline in a tag, and no trailing backslash, since InfluxDB 1.x reads a tag value's last
 * backslash as escaping the delimiter after it (there is no way to write one). Empty is allowed (the tag is left out).
 */
export const TAG_TEXT_PATTERN = '^(?:[^\\u0000-\\u001f\\u007f]*[^\\u0000-\\u001f\\u007f\\\\])?$';

const Id = Type.String({ pattern: ID_PATTERN });
const Finite = (opts: object = {}) => Type.Number({ ...opts });
const NonNeg = () => Type.Number({ minimum: 0 });
/** A count or size: a non-negative integer a double holds exactly. */
const Count = () => Type.Integer({ minimum: 0, maximum: MAX_INT });
const TagText = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength, pattern: TAG_TEXT_PATTERN });

/**
 * Fields every message carries. `boot` changes at each process start; (`node`, `boot`, `seq`) identifies a
 * message for de-duplication and gap detection. `ts` is wall-clock ms since the epoch and `tsTrusted` says
 * whether that clock was synchronised (GPS or NTP) when the message was made; `mono_ms` is the monotonic
 * offset since boot, so the cloud can place untrusted messages once a trusted one of the same boot arrives.
 */
export const EnvelopeProps = {
  v: Type.Literal(SCHEMA_VERSION),
  node: Id,
  site: Id,
  boot: Type.String({ pattern: '^[0-9a-f]{8,32}$' }),
  seq: Count(),
  ts: Type.Integer({ minimum: 0, maximum: MAX_TS_MS }),
  tsTrusted: Type.Boolean(),
  mono_ms: Type.Number({ minimum: 0, maximum: MAX_TS_MS }),
  /** Set when the message is drained from the backlog after an outage rather than sent live. */
  hist: Type.Optional(Type.Boolean()),
};

function message<P extends TProperties>(props: P) {
  return Type.Object({ ...EnvelopeProps, ...props }, { additionalProperties: false });
}

export const Position = Type.Object(
  {
    lat: Finite({ minimum: -90, maximum: 90 }),
    lon: Finite({ minimum: -180, maximum: 180 }),
    height_m: Type.Optional(Finite()),
    fix: Type.Optional(Type.Integer({ minimum: 0, maximum: 9 })),
    hdop: Type.Optional(NonNeg()),
  },
  { additionalProperties: false },
);
export type Position = Static<typeof Position>;

export const DriverState = Type.Union([
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('backoff'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
]);
export type DriverState = Static<typeof DriverState>;

export const CameraStatus = Type.Object(
  {
    state: Type.Union([
      Type.Literal('starting'),
      Type.Literal('playing'),
      Type.Literal('backoff'),
      Type.Literal('ended'),
      Type.Literal('stopped'),
      Type.Literal('failed'),
    ]),
    width: Type.Optional(Count()),
    height: Type.Optional(Count()),
    frames: Count(),
    dropped: Count(),
    reconnects: Count(),
    resolutionChanges: Count(),
    lastError: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type CameraStatus = Static<typeof CameraStatus>;

export const StatusMsg = message({
  role: Type.Union([Type.Literal('vehicle'), Type.Literal('handheld'), Type.Literal('xray'), Type.Literal('camera')]),
  online: Type.Boolean(),
  version: Type.String({ maxLength: 64 }),
  uptime_s: NonNeg(),
  cpu_pct: Type.Optional(NonNeg()),
  mem_rss_bytes: Type.Optional(NonNeg()),
  mem_free_bytes: Type.Optional(NonNeg()),
  disk_free_bytes: Type.Optional(NonNeg()),
  components: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object(
        {
          kind: Type.Union([Type.Literal('device'), Type.Literal('pipeline')]),
          state: DriverState,
          restarts: Count(),
          lastError: Type.Optional(Type.String({ maxLength: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
  ),
  outbox: Type.Optional(
    Type.Object(
      {
        depth: Count(),
        bytes: Count(),
        droppedRoutine: Count(),
        full: Type.Boolean(),
        /** Delivered to the broker but not yet confirmed by the cloud. */
        unconfirmed: Type.Optional(Count()),
      },
      { additionalProperties: false },
    ),
  ),
  calibration: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 128 }))),
  models: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 128 }))),
  /** Per camera of a camera node: stream state and counters (a camera is not a component of its own). */
  cameras: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), CameraStatus, { maxProperties: 64 })),
  position: Type.Optional(Position),
});
export type StatusMsg = Static<typeof StatusMsg>;

const DetectorRate = Type.Object(
  {
    id: Type.String({ pattern: DETECTOR_ID_PATTERN }),
    cps: NonNeg(),
    doseRate_uSv_h: Type.Optional(NonNeg()),
    height_m: Type.Optional(Finite()),
  },
  { additionalProperties: false },
);

/** Per-second radiation summary of a vehicle or handheld. */
export const RadMsg = message({
  live_s: NonNeg(),
  gross_cps: NonNeg(),
  doseRate_uSv_h: Type.Optional(NonNeg()),
  gm_cps: Type.Optional(NonNeg()),
  detectors: Type.Array(DetectorRate, { maxItems: 64 }),
  position: Type.Optional(Position),
});
export type RadMsg = Static<typeof RadMsg>;

export const NuclideCategory = Type.Union([
  Type.Literal('NORM'),
  Type.Literal('medical'),
  Type.Literal('industrial'),
  Type.Literal('SNM'),
  Type.Literal('unknown'),
]);

const NuclideResult = Type.Object(
  {
    nuclide: TagText(32, 1),
    confidence: Finite({ minimum: 0, maximum: 1 }),
    category: NuclideCategory,
  },
  { additionalProperties: true },
);

export const AlarmMsg = message({
  alarmId: Type.String({ minLength: 1, maxLength: 64 }),
  test: Type.String({ minLength: 1, maxLength: 64 }),
  detector: Type.Optional(Type.String({ maxLength: 64 })),
  statistic: Finite(),
  threshold: Finite(),
  gross_cps: Type.Optional(NonNeg()),
  doseRate_uSv_h: Type.Optional(NonNeg()),
  nuclides: Type.Array(NuclideResult, { maxItems: 32 }),
  /** The ONNX classifier's result beside the template fit's (`identifyMethod: both`). */
  classifier: Type.Optional(Type.Array(NuclideResult, { maxItems: 32 })),
  position: Type.Optional(Position),
});
export type AlarmMsg = Static<typeof AlarmMsg>;

export const SourceMsg = message({
  estimateId: Type.String({ minLength: 1, maxLength: 64 }),
  sources: Type.Array(
    Type.Object(
      {
        lat: Finite({ minimum: -90, maximum: 90 }),
        lon: Finite({ minimum: -180, maximum: 180 }),
        height_m: Finite(),
        nuclide: Type.Optional(TagText(32)),
        cps_at_1m: NonNeg(),
        activity_Bq: Type.Optional(NonNeg()),
        doseRate_uSv_h_at_1m: Type.Optional(NonNeg()),
        ci95_m: Type.Optional(NonNeg()),
        ambiguous: Type.Boolean(),
      },
      { additionalProperties: true },
    ),
    { maxItems: 16 },
  ),
});
export type SourceMsg = Static<typeof SourceMsg>;

export const XrayMsg = message({
  scanId: Type.String({ minLength: 1, maxLength: 128 }),
  decision: Type.Union([Type.Literal('clear'), Type.Literal('review'), Type.Literal('inspect')]),
  reasons: Type.Array(Type.String({ maxLength: 256 }), { maxItems: 32 }),
  detections: Type.Array(
    Type.Object(
      { class: Type.String({ maxLength: 64 }), score: Finite({ minimum: 0, maximum: 1 }) },
      { additionalProperties: true },
    ),
    { maxItems: 256 },
  ),
  latency_ms: NonNeg(),
  /** Material shares of the scan's contents (dual-energy) and its largest dense organic region; images stay on the box. */
  materials: Type.Optional(
    Type.Object(
      {
        organic: Finite({ minimum: 0, maximum: 1 }),
        inorganic: Finite({ minimum: 0, maximum: 1 }),
        metal: Finite({ minimum: 0, maximum: 1 }),
        opaque: Finite({ minimum: 0, maximum: 1 }),
        denseOrganic_cm2: Type.Optional(NonNeg()),
        mass_kg: Type.Optional(NonNeg()),
      },
      { additionalProperties: false },
    ),
  ),
  scanner: Type.Optional(Type.String({ maxLength: 128 })),
  /** Model name@version per ATR stage that looked at the scan. */
  models: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 128 }))),
});
export type XrayMsg = Static<typeof XrayMsg>;

export const EventMsg = message({
  eventId: Type.String({ minLength: 1, maxLength: 64 }),
  camera: TagText(64, 1),
  type: Type.Union([
    Type.Literal('abandoned_bag'),
    Type.Literal('bag_switch'),
    Type.Literal('companions'),
    Type.Literal('dwell'),
  ]),
  trackIds: Type.Array(Count(), { maxItems: 64 }),
  bbox: Type.Tuple([Finite(), Finite(), Finite(), Finite()]),
  confidence: Type.Optional(Finite({ minimum: 0, maximum: 1 })),
  /** Zone of a dwell event (as named in the camera pipeline's config). */
  zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** How long the condition lasted when the event fired: dwell time, time the bag stood without its owner. */
  duration_s: Type.Optional(NonNeg()),
});
export type EventMsg = Static<typeof EventMsg>;

/** A node's answer to a command. */
export const AckMsg = message({
  cmd: TagText(32, 1),
  cmdId: Type.String({ minLength: 1, maxLength: 128 }),
  ok: Type.Boolean(),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type AckMsg = Static<typeof AckMsg>;

/**
 * A spectrum a technician asked for with a `capture` command (calibration CLI `background`): full spectra stay on
 * the node otherwise. Progress messages carry no counts; the last one (progress 1) carries the summed spectrum,
 * or `error` when the capture could not be made.
 */
export const SpectrumMsg = message({
  cmdId: Type.String({ minLength: 1, maxLength: 128 }),
  detector: Type.String({ pattern: DETECTOR_ID_PATTERN }),
  liveTime_s: NonNeg(),
  realTime_s: NonNeg(),
  progress: Finite({ minimum: 0, maximum: 1 }),
  counts: Type.Optional(Type.Array(NonNeg(), { maxItems: 16384 })),
  calibration: Type.Optional(
    Type.Object(
      {
        coefficients: Type.Array(Finite(), { minItems: 1, maxItems: 8 }),
        deviationPairs: Type.Optional(Type.Array(Type.Tuple([Finite(), Finite()]), { maxItems: 64 })),
      },
      { additionalProperties: false },
    ),
  ),
  error: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type SpectrumMsg = Static<typeof SpectrumMsg>;

export const SCHEMAS = {
  status: StatusMsg,
  rad: RadMsg,
  alarm: AlarmMsg,
  source: SourceMsg,
  xray: XrayMsg,
  event: EventMsg,
  ack: AckMsg,
  spectrum: SpectrumMsg,
} satisfies Record<Kind, TObject>;

export interface MessageOf {
  status: StatusMsg;
  rad: RadMsg;
  alarm: AlarmMsg;
  source: SourceMsg;
  xray: XrayMsg;
  event: EventMsg;
  ack: AckMsg;
  spectrum: SpectrumMsg;
}
export type AnyMessage = MessageOf[Kind];

/** Envelope fields are added by the outbox; producers hand over the body only. */
export type EnvelopeKey = keyof typeof EnvelopeProps;
export type BodyOf<K extends Kind> = Omit<MessageOf[K], EnvelopeKey>;

/**
 * Delivery class: `critical` messages are never dropped by a full outbox; `routine` telemetry is dropped oldest
 * first. Status is not carried by the outbox at all (it is retained state, re-sent on every heartbeat).
 */
export function priorityOf(kind: Kind): 'critical' | 'routine' {
  switch (kind) {
    case 'alarm':
    case 'source':
    case 'event':
    case 'xray':
    case 'ack':
    case 'spectrum':
      return 'critical';
    case 'rad':
    case 'status':
      return 'routine';
    default: {
      const never: never = kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

/**
 * The cloud's acknowledgement of a node's summaries (topic cloudAckTopic): for one boot, inclusive seq ranges
 * the aggregator holds durably. Sent at QoS 0: a lost one only makes the node send those summaries again.
 */
export const CloudAck = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    boot: Type.String({ pattern: '^[0-9a-f]{8,32}$' }),
    r: Type.Array(Type.Tuple([Count(), Count()]), { maxItems: 100_000 }),
  },
  { additionalProperties: false },
);
export type CloudAck = Static<typeof CloudAck>;

/** Compresses seqs into sorted inclusive ranges ([[3,7],[9,9]] for 3..7 and 9). */
export function toRanges(seqs: number[]): [number, number][] {
  const s = [...seqs].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const x of s) {
    const last = out[out.length - 1];
    if (last && x <= last[1] + 1) last[1] = Math.max(last[1], x);
    else out.push([x, x]);
  }
  return out;
}

/** Largest payload the aggregator accepts (bytes); bigger ones are dead-lettered as oversized. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
