// Opening and closing serial ports with errors that name the device and path, shared by the serial drivers.
import { SerialPort } from 'serialport';
import { CustomsError } from '../../common/errors.js';

export type DeviceErrorCode =
  | 'E_DEVICE_OPEN'
  | 'E_DEVICE_UNPLUGGED'
  | 'E_DEVICE_TIMEOUT'
  | 'E_DEVICE_NOT_READY'
  | 'E_DEVICE_PROTOCOL';

/** A device could not be reached or stopped answering; the message names the device and its path. */
export class DeviceError extends CustomsError {
  constructor(
    override readonly code: DeviceErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Line rates a UART, a USB-serial bridge and a pty all accept. */
export const BAUD_RATES = [4800, 9600, 19200, 38400, 57600, 115200, 230400] as const;

export interface SerialOptions {
  path: string;
  baudRate: number;
  /** What is on the port ("GPS", "I/O board"), used in error messages. */
  what: string;
  /**
   * Bytes per read. The default 64 KiB pool is wasted on devices that send a few hundred bytes a second, and a
   * port that is dropped on every restart should not leave large buffers for the collector.
   */
  highWaterMark?: number;
}

/** A port object that is not open yet, so that listeners (Firmata, parsers) can be attached before the first byte. */
export function createSerial(opts: SerialOptions): SerialPort {
  return new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false, highWaterMark: opts.highWaterMark ?? 4096 });
}

/** Why an open failed, in the words an operator needs: absent device, permissions, or someone else holding it. */
function openHint(message: string): string {
  if (/no such file|ENOENT/i.test(message)) return 'the device is not there: unplugged, or the wrong path';
  if (/permission denied|EACCES/i.test(message)) return 'no permission: add the service user to the dialout group';
  if (/resource temporarily unavailable|EBUSY|lock/i.test(message)) return 'another process holds the port';
  return 'the port could not be opened';
}

/** Opens `port`; rejects with a DeviceError (E_DEVICE_OPEN) naming the path and a hint. */
export function openSerial(port: SerialPort, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (!err) {
        resolve();
        return;
      }
      reject(new DeviceError('E_DEVICE_OPEN', port.path, `${what} ${port.path}: cannot open serial port (${openHint(err.message)}): ${err.message}`, { cause: err }));
    });
  });
}

/** Closes `port` if open; never rejects, since a port that is already gone is closed enough. */
export function closeSerial(port: SerialPort): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => {
    port.close(() => resolve());
  });
}

/** The error a driver reports when its port closes under it (cable pulled, pty gone). */
export function unpluggedError(what: string, path: string, cause?: Error | null): DeviceError {
  const detail = cause?.message ? `: ${cause.message}` : '';
  return new DeviceError('E_DEVICE_UNPLUGGED', path, `${what} ${path}: serial port disconnected${detail}`, { cause });
}

/** The listeners a line-protocol driver keeps on its port. */
export interface SerialListeners {
  onData: (chunk: Buffer) => void;
  onClose: (err: Error | null) => void;
  onError: (err: Error) => void;
}

/**
 * Creates and opens a port with `l` attached before the first byte. If the open fails, they are detached again and
 * the DeviceError is thrown, so a retry starts clean.
 */
export async function openWithListeners(opts: SerialOptions, l: SerialListeners): Promise<SerialPort> {
  const port = createSerial(opts);
  port.on('data', l.onData);
  port.on('close', l.onClose);
  port.on('error', l.onError);
  try {
    await openSerial(port, opts.what);
  } catch (err) {
    detachListeners(port, l);
    throw err;
  }
  return port;
}

export function detachListeners(port: SerialPort, l: SerialListeners): void {
  port.off('data', l.onData);
  port.off('close', l.onClose);
  port.off('error', l.onError);
}

/** Detaches `l` and closes the port; an error while closing must not become an unhandled 'error' event. */
export async function closeWithListeners(port: SerialPort, l: SerialListeners): Promise<void> {
  detachListeners(port, l);
  port.on('error', () => {});
  await closeSerial(port);
}
