// One example invocation per `customs-edge` command, shown at the end of its --help (files from examples/ where one fits).

/** Commands of `customs-edge --version`: the first things to try in a clone of the repository. */
export const EDGE_FIRST_STEPS: readonly string[] = [
  'customs-edge rad identify examples/data/handheld-cs137.n42',
  'customs-edge check-config examples/vehicle.yaml',
  'customs-edge --help',
];

/** By command path as `leafCommands` names it; common/cli.ts adds them to the help. */
export const EDGE_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  run: ['customs-edge run --config /etc/customs/edge.yaml', 'customs-edge --log-format json run -c /etc/customs/edge.yaml   # for journald or docker logs'],
  health: ['customs-edge health --config /etc/customs/edge.yaml --max-age 30 || echo unhealthy'],
  'check-config': ['customs-edge check-config examples/vehicle.yaml'],
  'rad convert': ['customs-edge rad convert examples/data/handheld-cs137.n42 /tmp/handheld.n42'],
  'rad dose': ['customs-edge rad dose examples/data/handheld-cs137.n42 --detector NaI-2x2'],
  'rad identify': ['customs-edge rad identify examples/data/handheld-cs137.n42', 'customs-edge rad identify spectrum.spe --detector NaI-3x3 --background bg.n42 --json'],
  'rad alarm': ['customs-edge rad alarm examples/data/vehicle-drive-cs137.n42 --far 0.5'],
  'rad localize': ['customs-edge rad localize examples/data/vehicle-drive-cs137.n42', 'customs-edge rad localize /var/lib/customs/spectra --map /tmp/drive.png --contours /tmp/dose.geojson'],
  'xray inspect': ['customs-edge xray inspect examples/data/scan_high.png examples/data/scan_low.png', 'customs-edge xray inspect scan.dcs --render /tmp/scan-colour.png --json'],
  'xray tip': ['customs-edge xray tip --out /tmp/tip --count 100 --difficulty hard --seed 7'],
  'xray verdict': ['customs-edge xray verdict --log /var/lib/customs/xray tip-7-000001 threat --class gun --by officer-12'],
  'camera scene': ['customs-edge camera scene --out /tmp/hall.avi --size 320x240'],
  'camera dataset': ['customs-edge camera dataset --out /tmp/cam/train --frames 1800 --seed 1000'],
  'camera eval': ['customs-edge camera eval --size 320x240 --json', 'customs-edge camera eval --gt /tmp/mot/TUD-Stadtmitte/gt/gt.txt --pred /tmp/ts.txt   # MOTA, IDF1, HOTA'],
  'camera analyze': ['customs-edge camera analyze /tmp/mot/TUD-Stadtmitte --det /tmp/mot/TUD-Stadtmitte/det/det.txt --mot /tmp/ts.txt', 'customs-edge camera analyze hall.avi --json --max-frames 300 > tracks.json'],
};
