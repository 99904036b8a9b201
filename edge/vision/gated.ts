// Motion-gated detection for one camera: background subtraction and the gate decide where (and whether) the detector
// looks this frame; the tracker carries every box the detector did not look at.
import type { Detection } from '../../analysis/detect/yolo.js';
import { DetectionGate, mergeRegionDetections, type GateOptions, type GatePlan, type GateTrack, type Roi } from '../../analysis/vision/gate.js';
import { MotionDetector, type MotionOptions, type MotionResult } from '../../analysis/vision/motion.js';

/** One frame as the camera children deliver it (interleaved RGB). */
export interface GatedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/**
 * What gating needs of a detector. Kept structural (edge/vision/detectors.ts's CameraDetector fits it) so this file
 * imports neither the analyzer nor the detector registry, which both import it.
 */
export interface GateableDetector {
  detect(img: GatedImage): Promise<Detection[]>;
  /** Detections inside `roi` only, in full-image pixels. Without it every call the gate asks for is a full frame. */
  detectRegion?(img: GatedImage, roi: Roi): Promise<Detection[]>;
}

/** The analyzer's `gate` option: the gate's rules and the motion detector's. */
export interface GatedOptions extends GateOptions {
  motion?: MotionOptions;
}

export interface GatedDetections {
  detections: Detection[];
  plan: GatePlan;
  motion: MotionResult;
  /** Detector calls made for this frame (0 when the tracker carries everything). */
  calls: number;
  /** For the tracker: whether the detector looked at a box this frame. */
  observed: (box: [number, number, number, number]) => boolean;
  /** Background subtraction and planning time (ms). */
  motion_ms: number;
}

export interface GateStats {
  frames: number;
  /** Frames with at least one detector call. */
  framesWithCall: number;
  calls: number;
  /** framesWithCall / frames (0 before the first frame). */
  callFraction: number;
  /** Frames per plan reason ('start', 'periodic', 'motion', 'tracks', 'idle', ...). */
  reasons: Record<string, number>;
}

export class GatedDetection {
  readonly motion: MotionDetector;
  readonly gate: DetectionGate;
  private readonly counts = { frames: 0, framesWithCall: 0, calls: 0 };
  private reasons: Record<string, number> = {};

  constructor(
    private readonly detector: GateableDetector,
    opts: GatedOptions = {},
  ) {
    const { motion, ...gate } = opts;
    this.motion = new MotionDetector(motion);
    this.gate = new DetectionGate(gate);
  }

  /** A restarted stream or a new resolution: background, history and track memory start over. */
  reset(): void {
    this.motion.reset();
    this.gate.reset();
  }

  async detect(frame: { data: Uint8Array; width: number; height: number; t_s: number }): Promise<GatedDetections> {
    const { width: W, height: H } = frame;
    const t0 = performance.now();
    const motion = this.motion.update({ data: frame.data, width: W, height: H, channels: 3 }, frame.t_s);
    let plan = this.gate.plan({ width: W, height: H, t_s: frame.t_s, motion });
    const motion_ms = performance.now() - t0;
    // A detector without regions answers the whole frame: every object is looked at, as in a full-frame call.
    if (plan.call === 'regions' && !this.detector.detectRegion) {
      plan = { ...plan, call: 'full', regions: [{ x: 0, y: 0, w: W, h: H }] };
      this.gate.fullDone(frame.t_s);
    }
    const img: GatedImage = { data: frame.data, width: W, height: H, channels: 3 };
    let detections: Detection[] = [];
    let calls = 0;
    if (plan.call === 'full') {
      detections = await this.detector.detect(img);
      calls = 1;
    } else if (plan.call === 'regions') {
      const parts: { roi: Roi; dets: Detection[] }[] = [];
      for (const roi of plan.regions) {
        parts.push({ roi, dets: await this.detector.detectRegion!(img, roi) });
        calls++;
      }
      detections = mergeRegionDetections(parts, W, H, { borderPx: this.gate.o.borderPx });
    }
    this.counts.frames++;
    this.counts.calls += calls;
    if (calls > 0) this.counts.framesWithCall++;
    this.reasons[plan.reason] = (this.reasons[plan.reason] ?? 0) + 1;
    const p = plan;
    return { detections, plan, motion, calls, observed: (box) => this.gate.observed(p, box), motion_ms };
  }

  /** After the tracker ran on this frame's detections: every live track (tracker.all) and what was detected. */
  after(plan: GatePlan, tracks: readonly GateTrack[], detections: readonly Detection[]): void {
    this.gate.after(plan, tracks, detections);
  }

  stats(): GateStats {
    const c = this.counts;
    return { ...c, callFraction: c.frames ? c.framesWithCall / c.frames : 0, reasons: { ...this.reasons } };
  }
}
