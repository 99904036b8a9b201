// The DP5 packet codec: the guide's example packets, round trips, and a decoder that survives garbage, bad checksums, bad lengths, unknown PIDs and cut-off packets.
import t from 'tap';
import {
  Dp5Decoder,
  type Dp5Event,
  type Dp5Packet,
  type Dp5Problem,
  MAX_COUNT,
  SPECTRUM_CHANNELS,
  checksum,
  decodeStatus,
  encodeAck,
  encodePacket,
  encodeRequest,
  encodeSpectrumResponse,
  encodeStatus,
  encodeStatusResponse,
  liveTimeOf,
  spectrumLayout,
  spectrumPid2,
} from '../../devices/radiation/dp5-protocol.js';
import { mulberry32 } from '../../analysis/radiation/sim/scene.js';

function packets(events: Dp5Event[]): Dp5Packet[] {
  return events.flatMap((e) => (e.kind === 'packet' ? [e.packet] : []));
}
function problems(events: Dp5Event[]): Dp5Problem[] {
  return events.flatMap((e) => (e.kind === 'problem' ? [e.problem] : []));
}
/** Feeds a buffer in random-sized pieces, as a serial port delivers it. */
function feed(dec: Dp5Decoder, buf: Uint8Array, seed = 1): Dp5Event[] {
  const rng = mulberry32(seed);
  const out: Dp5Event[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(rng() * 300);
    out.push(...dec.push(buf.subarray(i, i + n)));
    i += n;
  }
  return out;
}

function spectrumOf(n: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from({ length: n }, (_, i) => (i === 0 ? MAX_COUNT : Math.floor(rng() * 5000)));
}

t.test('checksums and requests match the examples printed in the DP5 Programmer\'s Guide', async (t) => {
  // "Request Netfinder Packet" and "Autoset Input Offset", as the guide prints them.
  t.same([...encodePacket(0x03, 0x07)], [0xf5, 0xfa, 0x03, 0x07, 0x00, 0x00, 0xfe, 0x07]);
  t.same([...encodePacket(0xf0, 0x05)], [0xf5, 0xfa, 0xf0, 0x05, 0x00, 0x00, 0xfd, 0x1c]);
  t.same([...encodeRequest('status')], [0xf5, 0xfa, 0x01, 0x01, 0x00, 0x00, 0xfe, 0x0f]);
  t.same([...encodeRequest('spectrumStatusClear')].slice(2, 4), [0x02, 0x04]);
  t.same([...encodeRequest('clearSpectrum')].slice(2, 4), [0xf0, 0x01]);
  // The 16-bit sum of the bytes before the checksum plus the checksum word is 0 mod 2^16.
  const p = encodeSpectrumResponse(spectrumOf(256, 3), encodeStatus({ slowCount: 5 }));
  let sum = 0;
  for (const b of p.subarray(0, p.length - 2)) sum += b;
  t.equal((sum + p.readUInt16BE(p.length - 2)) & 0xffff, 0, 'bytes plus checksum word sum to zero');
  t.equal(checksum(new Uint8Array([0xf5, 0xfa, 0x01, 0x01, 0, 0])), 0xfe0f);
});

t.test('spectrum PID2 encodes channels and status as the guide lists them', async (t) => {
  t.equal(spectrumPid2(256, false), 1);
  t.equal(spectrumPid2(256, true), 2);
  t.equal(spectrumPid2(1024, true), 6);
  t.equal(spectrumPid2(8192, true), 12);
  t.same(spectrumLayout(11), { channels: 8192, withStatus: false });
  t.equal(spectrumLayout(13), undefined);
  t.throws(() => spectrumPid2(1000, true), /256, 512, 1024, 2048, 4096, 8192 channels, got 1000/);
});

t.test('round trips: every channel count with and without status, status fields, ACKs', async (t) => {
  for (const n of SPECTRUM_CHANNELS) {
    for (const withStatus of [false, true]) {
      const counts = spectrumOf(n, n);
      const status = withStatus ? encodeStatus({ fastCount: 1234567, slowCount: 1200000, accumulationTime_s: 1.234, realTime_s: 1.25, boardTemperature_C: -7 }) : undefined;
      const dec = new Dp5Decoder();
      const ev = feed(dec, encodeSpectrumResponse(counts, status), n);
      t.same(problems(ev), [], `${n} channels${withStatus ? ' + status' : ''}: no problems`);
      const [p] = packets(ev);
      if (p?.type !== 'spectrum') {
        t.fail('expected a spectrum');
        continue;
      }
      t.equal(p.channels, n);
      t.same([...p.counts], [...counts], `${n} channels: counts as sent (24-bit maximum included)`);
      t.equal(p.status !== undefined, withStatus);
    }
  }
  const s = decodeStatus(
    encodeStatus({
      fastCount: 0xfedcba98,
      slowCount: 99,
      gpCount: 7,
      accumulationTime_s: 12345.678,
      realTime_s: 3600.5,
      firmware: 0x68,
      serialNumber: 987654,
      hv_V: -750.5,
      detectorTemperature_K: 230.4,
      boardTemperature_C: -12,
      mcaEnabled: true,
      deviceType: 'PX5',
    }),
  );
  t.equal(s.fastCount, 0xfedcba98, '32-bit counter without sign trouble');
  t.equal(s.slowCount, 99);
  t.equal(s.gpCount, 7);
  t.ok(Math.abs(s.accumulationTime_s - 12345.678) < 1e-6, 'accumulation time: ms byte + 100 ms units');
  t.ok(Math.abs(s.realTime_s - 3600.5) < 1e-9);
  t.equal(s.serialNumber, 987654);
  t.equal(s.hv_V, -750.5, 'signed HV at 0.5 V per count');
  t.ok(Math.abs(s.detectorTemperature_K - 230.4) < 1e-9);
  t.equal(s.boardTemperature_C, -12, 'signed board temperature');
  t.equal(s.mcaEnabled, true);
  t.equal(s.deviceType, 'PX5');
  t.equal(s.deviceLiveTime_s, undefined, 'only the MCA8000D has a live-time counter');
  t.ok(Math.abs(liveTimeOf({ ...s, accumulationTime_s: 2, fastCount: 1000, slowCount: 900 }) - 1.8) < 1e-12, 'live time = accumulation × slow/fast');
  const mca = decodeStatus(encodeStatus({ deviceType: 'MCA8000D', firmware: 0x67, deviceLiveTime_s: 4.321 }));
  t.equal(liveTimeOf(mca), 4.321, 'the MCA8000D live-time counter is used when present');

  const dec = new Dp5Decoder();
  const ev = dec.push(Buffer.concat([encodeAck(0), encodeAck(4), encodeStatusResponse(encodeStatus({ serialNumber: 42 }))]));
  const [ok, nack, st] = packets(ev);
  t.match(ok, { type: 'ack', ok: true, name: 'OK' });
  t.match(nack, { type: 'ack', ok: false, code: 4, name: 'checksum error' });
  t.match(st, { type: 'status', status: { serialNumber: 42 } });

  const req = new Dp5Decoder({ accept: 'requests' });
  const reqs = packets(req.push(Buffer.concat([encodeRequest('status'), encodeRequest('spectrumStatusClear'), encodeRequest('enableMca')])));
  t.same(
    reqs.map((p) => (p.type === 'request' ? p.kind : p.type)),
    ['status', 'spectrumStatusClear', 'enableMca'],
    'the instrument side decodes requests',
  );
});

t.test('garbage before and between packets is skipped and reported with its offset', async (t) => {
  const a = encodeSpectrumResponse(spectrumOf(512, 1), encodeStatus({ slowCount: 1 }));
  const b = encodeStatusResponse(encodeStatus({ serialNumber: 7 }));
  // Noise with a lone 0xF5 that is not followed by 0xFA.
  const noise1 = Buffer.from([0x00, 0x13, 0xf5, 0x41, 0x42]);
  const noise2 = Buffer.from('line noise\r\n', 'latin1');
  const dec = new Dp5Decoder();
  const ev = feed(dec, Buffer.concat([noise1, a, noise2, b]), 9);
  const ps = packets(ev);
  t.same(ps.map((p) => p.type), ['spectrum', 'status'], 'both packets decoded');
  t.equal(ps[0]?.offset, noise1.length, 'packet offsets count from the start of the stream');
  t.equal(ps[1]?.offset, noise1.length + a.length + noise2.length);
  const pr = problems(ev);
  t.ok(pr.length >= 2 && pr.every((p) => p.code === 'E_DP5_GARBAGE'), 'two garbage reports (possibly split by chunking)');
  t.equal(pr[0]?.offset, 0);
  t.match(pr[0]?.message, /at byte 0 outside any packet: expected sync 0xF5 0xFA/);
  t.ok(pr.some((p) => p.offset === noise1.length + a.length), 'the second run named at its own offset');
  t.equal(dec.stats.garbageBytes, noise1.length + noise2.length);
  t.equal(dec.stats.packets, 2);
});

t.test('a bad checksum is reported with offset, found and expected values; the next packet survives', async (t) => {
  const good = encodeSpectrumResponse(spectrumOf(256, 2), encodeStatus({ slowCount: 3 }));
  const bad = Buffer.from(good);
  bad[100] = bad[100]! ^ 0x01;
  const dec = new Dp5Decoder();
  const ev = feed(dec, Buffer.concat([good, bad, good]), 4);
  t.equal(packets(ev).length, 2, 'the two good packets');
  const [p] = problems(ev);
  t.equal(p?.code, 'E_DP5_CHECKSUM');
  t.equal(p?.offset, good.length);
  t.match(p?.message, new RegExp(`packet at byte ${good.length} \\(PID1 0x81 PID2 0x02, 832 data bytes\\): checksum 0x[0-9A-F]{4}, expected 0x[0-9A-F]{4}`));
  t.same(p?.pid, [0x81, 0x02]);
  t.equal(dec.stats.badChecksum, 1);
});

t.test('sync bytes inside a packet, a wrong length and an unknown PID', async (t) => {
  // Counts whose bytes spell F5 FA: the decoder must not resync inside a good packet.
  const counts = new Float64Array(256).fill(0xfaf5);
  const inner = encodeSpectrumResponse(counts);
  const dec1 = new Dp5Decoder();
  const ev1 = feed(dec1, Buffer.concat([inner, inner]), 5);
  t.equal(packets(ev1).length, 2, 'sync pairs in the data do not split packets');
  t.same(problems(ev1), []);

  const wrongLen = encodePacket(0x81, 0x06, new Uint8Array(100)); // 1024 channels + status needs 3136 bytes
  const unknown = encodePacket(0x42, 0x01, new Uint8Array(4));
  const good = encodeAck(0);
  const dec = new Dp5Decoder();
  const ev = dec.push(Buffer.concat([wrongLen, good, unknown, good]));
  t.same(packets(ev).map((p) => p.type), ['ack', 'ack'], 'the packets after each bad header are decoded');
  const pr = problems(ev);
  const len = pr.find((p) => p.code === 'E_DP5_LENGTH');
  t.equal(len?.offset, 0);
  t.match(len?.message, 'packet at byte 0 (PID1 0x81 PID2 0x06): length 100, expected 3136 data bytes for 1024 channels with status');
  const pid = pr.find((p) => p.code === 'E_DP5_PID');
  t.equal(pid?.offset, wrongLen.length + good.length);
  t.match(pid?.message, `packet at byte ${wrongLen.length + good.length}: PID1 0x42 PID2 0x01 is not a known response: expected status 0x80/0x01`);
  t.notOk(pr.some((p) => p.code === 'E_DP5_GARBAGE'), 'the body of a rejected packet is not reported again as garbage');
  t.equal(dec.stats.badLength, 1);
  t.equal(dec.stats.unknownPid, 1);

  const req = new Dp5Decoder({ accept: 'requests' });
  const rp = problems(req.push(encodePacket(0x81, 0x01)));
  t.match(rp[0]?.message, /is not a known request: expected 0x01\/0x01, 0x02\/0x01/);
});

t.test('truncated packets: flush reports the cut, and a good packet after a cut-off one is still decoded', async (t) => {
  const full = encodeSpectrumResponse(spectrumOf(1024, 6), encodeStatus({ slowCount: 9 }));
  const dec = new Dp5Decoder();
  t.same(dec.push(full.subarray(0, 1000)), [], 'waits for the rest');
  const fl = dec.flush();
  t.equal(fl.length, 1);
  const p = problems(fl)[0];
  t.equal(p?.code, 'E_DP5_TRUNCATED');
  t.match(p?.message, 'packet at byte 0 cut off after 1000 bytes: expected 3144 bytes');
  t.equal(dec.stats.truncated, 1);
  t.same(dec.flush(), [], 'nothing left');

  // Lost bytes: half a packet runs straight into a whole one.
  const dec2 = new Dp5Decoder();
  const ev = feed(dec2, Buffer.concat([full.subarray(0, 1500), full, full]), 8);
  const ps = packets(ev);
  t.equal(ps.length, 2, 'both whole packets decoded after the cut-off one');
  t.equal(ps[0]?.offset, 1500, 'at the offset where the whole packet began');
  const pr = problems(ev);
  t.equal(pr[0]?.code, 'E_DP5_CHECKSUM', 'the cut-off packet fails its checksum');
  t.equal(pr[0]?.offset, 0);

  // A header cut before its length.
  const dec3 = new Dp5Decoder();
  dec3.push(Buffer.from([0x11, 0xf5, 0xfa, 0x81]));
  const f3 = problems(dec3.flush());
  t.equal(f3.at(-1)?.code, 'E_DP5_TRUNCATED');
  t.match(f3.at(-1)?.message, 'packet at byte 1 cut off after 3 bytes: expected at least a 6-byte header');
});

t.test('never throws: random bytes and random damage to valid streams', async (t) => {
  const rng = mulberry32(77);
  const stream = Buffer.concat(
    Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? encodeStatusResponse(encodeStatus({ serialNumber: i })) : encodeSpectrumResponse(spectrumOf(256, i), encodeStatus({})))),
  );
  let decoded = 0;
  for (let trial = 0; trial < 200; trial++) {
    const buf = Buffer.from(stream);
    const hits = 1 + Math.floor(rng() * 5);
    for (let k = 0; k < hits; k++) buf[Math.floor(rng() * buf.length)] = Math.floor(rng() * 256);
    const dec = new Dp5Decoder();
    const ev = [...feed(dec, buf, trial), ...dec.flush()];
    decoded += packets(ev).length;
    const bad = problems(ev).filter((p) => !Number.isInteger(p.offset) || p.offset < 0 || p.offset >= buf.length);
    if (bad.length) t.fail(`problem offsets outside the stream: ${JSON.stringify(bad[0])}`);
  }
  t.ok(decoded > 200 * 20 * 0.6, `most packets survive a few damaged bytes (${decoded} of ${200 * 20})`);
  const random = new Uint8Array(20000).map(() => Math.floor(rng() * 256));
  const dec = new Dp5Decoder();
  t.doesNotThrow(() => [...feed(dec, random), ...dec.flush()]);
  t.equal(dec.position, 20000);
});
