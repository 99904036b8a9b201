// The signed `estimate` command: a vehicle's source estimate relayed by the aggregator to the site's handhelds.
import type { SourceMsg } from './schemas.js';

/** What the signed envelope carries; the handheld checks `site` and `handheld` against its own identity. */
export interface EstimateCommand {
  cmd: 'estimate';
  /** `<vehicle>/<estimateId>`: the handheld acks with it and ignores a repeat (retained commands come again). */
  cmdId: string;
  site: string;
  handheld: string;
  /** The vehicle's summary as the aggregator validated it (envelope included, so its ts and seq travel along). */
  source: SourceMsg;
}
