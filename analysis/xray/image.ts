// The 16-bit single-channel image every X-ray stage works on (raw detector counts or transmission scaled to 16 bits).

/** A 16-bit single-channel image as the detector delivered it (raw counts). */
export interface Image16 {
  width: number;
  height: number;
  data: Uint16Array;
  /** Size of the file's image before any downsampling on read. */
  source?: { width: number; height: number };
}
