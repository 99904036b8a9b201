// Brings up the simulated GPS receiver and I/O board on socat ptys, for the demo and tests that run the real drivers.
import { FirmataSimulator } from './firmata/simulator.js';
import { GpsSimulator, loop, type Trajectory } from './gps/simulator.js';
import { SocatPty } from './serial/pty.js';

export interface SimulatedDevicesOptions {
  /** Where the pty links go (default: a fresh temporary folder per device). */
  dir?: string;
  /** GPS trajectory (default: a 250 m loop at 5 m/s around the Rotterdam port area). */
  trajectory?: Trajectory;
  gpsRate_hz?: number;
  /** True GM event rate over time (default: 0.4 cps background). */
  gm_cps?: (t_s: number) => number;
  gmDeadTime_s?: number;
  /** Temperature at the board over time (default: 21 °C with a slow 2 °C swing). */
  temperature_C?: (t_s: number) => number;
}

export interface SimulatedDevices {
  /** What a config's `devices[].options.path` names. */
  gpsPath: string;
  boardPath: string;
  gps: GpsSimulator;
  board: FirmataSimulator;
  /** Pull the cable of one device (its pty disappears); `replug` brings it back at the same path. */
  unplug(which: 'gps' | 'board'): Promise<void>;
  replug(which: 'gps' | 'board'): Promise<void>;
  stop(): Promise<void>;
}

export async function startSimulatedDevices(opts: SimulatedDevicesOptions = {}): Promise<SimulatedDevices> {
  const ptyOpts = (name: string) => (opts.dir ? { dir: opts.dir, deviceName: `${name}-device`, hostName: name } : {});
  const gpsPty = new SocatPty(ptyOpts('gps'));
  const boardPty = new SocatPty(ptyOpts('ioboard'));
  await gpsPty.start();
  await boardPty.start();
  const makeGps = () =>
    new GpsSimulator({
      path: gpsPty.devicePath,
      rate_hz: opts.gpsRate_hz ?? 1,
      trajectory: opts.trajectory ?? loop({ centre: { lat: 51.95, lon: 4.05 }, radius_m: 250, speed_m_s: 5, height_m: 2 }),
    });
  const makeBoard = () =>
    new FirmataSimulator({
      path: boardPty.devicePath,
      gm_cps: opts.gm_cps ?? (() => 0.4),
      gmDeadTime_s: opts.gmDeadTime_s ?? 0,
      temperature_C: opts.temperature_C ?? ((t) => 21 + 2 * Math.sin((2 * Math.PI * t) / 3600)),
      seed: Date.now() >>> 0,
    });
  const state = { gps: makeGps(), board: makeBoard() };
  await state.gps.start();
  await state.board.start();
  return {
    gpsPath: gpsPty.hostPath,
    boardPath: boardPty.hostPath,
    get gps() {
      return state.gps;
    },
    get board() {
      return state.board;
    },
    async unplug(which) {
      await state[which].stop();
      await (which === 'gps' ? gpsPty : boardPty).kill();
    },
    async replug(which) {
      await (which === 'gps' ? gpsPty : boardPty).start();
      if (which === 'gps') {
        state.gps = makeGps();
        await state.gps.start();
      } else {
        state.board = makeBoard();
        await state.board.start();
      }
    },
    async stop() {
      await state.gps.stop();
      await state.board.stop();
      await gpsPty.close();
      await boardPty.close();
    },
  };
}
