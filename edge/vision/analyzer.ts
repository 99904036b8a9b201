// One camera's analysis chain: frame → detections (ONNX detector) → tracks (ByteTrack) → customs events.
import { iou, type Detection } from '../../analysis/detect/yolo.js';
import { EventDetector, type CameraEvent, type EventRules, type ZoneDef } from '../../analysis/vision/events.js';
import { ByteTracker, type Track, type TrackerOptions } from '../../analysis/vision/tracker.js';
import { GatedDetection, type GatedOptions, type GateStats } from './gated.js';
import { inAnyPolygon } from '../../analysis/vision/polygon.js';

/** What the analyzer needs from a detector: image in, boxes in image pixels out (OnnxDetector.detect). */
export interface FrameDetector {
  detect(img: { data: Uint8Array; width: number; height: number; channels: number }): Promise<Detection[]>;
}

export interface AnalyzerOptions {
  camera: string;
  detector: FrameDetector;
  /** Zones in normalised coordinates (0..1), scaled to each frame's size. */
  zones?: { id: string; polygon: [number, number][] }[];
  /** Exclusion masks in normalised coordinates: a detection whose foot point lies inside one is dropped. */
  exclude?: [number, number][][];
  rules?: Partial<EventRules>;
  tracker?: TrackerOptions;
  /** A bag box overlapping a person box by more than this IoU is the person seen as a bag, and is dropped. */
  crossClassIou?: number;
  /** Motion-gated detection (edge/vision/gated.ts): the detector runs only where and when the gate asks. */
  gate?: GatedOptions;
}

/**
 * Luggage on the floor beside people, as the events need it: a "bag" box that overlaps a person box like a person
 * would (IoU above `iouThreshold`), or sits inside a person box above knee height, is that person's clothing or the
 * person seen as both classes, and is dropped. People are never dropped for a bag. The price: bags worn on the body
 * (backpacks, handbags) are not tracked.
 */
export function crossClassSuppress(dets: Detection[], iouThreshold: number): Detection[] {
  const people = dets.filter((d) => d.class === 'person');
  return dets.filter((d) => {
    if (d.class !== 'bag') return true;
    return !people.some((p) => {
      if (iou(p, d) > iouThreshold) return true;
      const ix = Math.min(p.x2, d.x2) - Math.max(p.x1, d.x1);
      const iy = Math.min(p.y2, d.y2) - Math.max(p.y1, d.y1);
      if (ix <= 0 || iy <= 0) return false;
      const inside = (ix * iy) / Math.max(1e-6, (d.x2 - d.x1) * (d.y2 - d.y1));
      return inside > 0.7 && d.y2 < p.y1 + 0.75 * (p.y2 - p.y1);
    });
  });
}

/**
 * Detections whose foot point (bottom centre, where the thing stands on the floor) lies inside an exclusion mask
 * (normalised polygons, scaled to the frame) are dropped: a bin, a bench or a parked cart a detector keeps calling a
 * bag, or a poster it calls a person, never reaches the tracker or the events.
 */
export function dropExcluded(dets: Detection[], masks: readonly (readonly [number, number][])[], width: number, height: number): Detection[] {
  if (!masks.length) return dets;
  const px = masks.map((m) => m.map(([x, y]) => [x * width, y * height] as [number, number]));
  // The foot as a pixel centre inside the frame: a box cut by the frame's bottom has its foot on the edge, where a
  // mask drawn to the edge (y = 1) would otherwise miss it.
  const foot = (d: Detection): [number, number] => [Math.min(width - 0.5, Math.max(0.5, (d.x1 + d.x2) / 2)), Math.min(height - 0.5, Math.max(0.5, d.y2))];
  return dets.filter((d) => !inAnyPolygon(...foot(d), px));
}

export interface FrameResult {
  detections: Detection[];
  tracks: Track[];
  events: CameraEvent[];
  timing_ms: { detect: number; track: number };
  /** Detector calls this frame (1 ungated; 0 or more gated). */
  detectorCalls: number;
  gated: boolean;
}

export class CameraAnalyzer {
  private readonly tracker: ByteTracker;
  private readonly events: EventDetector;
  private size: [number, number] | undefined;
  private readonly gated: GatedDetection | undefined;

  constructor(private readonly o: AnalyzerOptions) {
    this.tracker = new ByteTracker(o.tracker);
    this.events = new EventDetector(o.camera, [], o.rules);
    this.gated = o.gate ? new GatedDetection(o.detector, o.gate) : undefined;
  }

  /** Gated analyzers: frames seen, frames that needed a detector call, calls; undefined when not gated. */
  gateStats(): GateStats | undefined {
    return this.gated?.stats();
  }

  flag(trackId: number): void {
    this.events.flag(trackId);
  }

  flagged(): number[] {
    return this.events.flaggedIds();
  }

  private zonesFor(w: number, h: number): ZoneDef[] {
    return (this.o.zones ?? []).map((z) => ({ id: z.id, polygon: z.polygon.map(([x, y]) => [x * w, y * h] as [number, number]) }));
  }

  /** Starts over (new resolution, or a restarted stream): ids from before mean nothing now. */
  reset(): void {
    this.tracker.reset();
    this.gated?.reset();
    this.events.reset(this.size ? this.zonesFor(this.size[0], this.size[1]) : undefined);
  }

  async process(frame: { data: Uint8Array; width: number; height: number; t_s: number }): Promise<FrameResult> {
    if (!this.size || this.size[0] !== frame.width || this.size[1] !== frame.height) {
      const first = !this.size;
      this.size = [frame.width, frame.height];
      // The first frame only tells the zones their pixels; flags set before it (the flagged file) stay.
      if (first) this.events.setZones(this.zonesFor(frame.width, frame.height));
      else this.reset();
    }
    const t0 = performance.now();
    const g = this.gated ? await this.gated.detect(frame) : undefined;
    const raw = dropExcluded(g ? g.detections : await this.o.detector.detect({ data: frame.data, width: frame.width, height: frame.height, channels: 3 }), this.o.exclude ?? [], frame.width, frame.height);
    const detections = crossClassSuppress(raw, this.o.crossClassIou ?? 0.45);
    const t1 = performance.now();
    const tracks = this.tracker.update(
      detections.map((d) => ({ box: [d.x1, d.y1, d.x2, d.y2], score: d.score, cls: d.class })),
      frame.t_s,
      g ? { observed: g.observed } : {},
    );
    if (g) this.gated!.after(g.plan, this.tracker.all(frame.t_s), detections);
    const events = this.events.update(tracks, frame.t_s, g ? { motion: this.gated!.motion } : {});
    const t2 = performance.now();
    return { detections, tracks, events, timing_ms: { detect: t1 - t0, track: t2 - t1 }, detectorCalls: g ? g.calls : 1, gated: g !== undefined };
  }
}
