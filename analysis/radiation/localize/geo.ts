// WGS84 latitude/longitude/height <-> local metres about an origin (x east, y north, z up from the origin's ground).

import type { LocalOrigin } from './types.js';

const A = 6378137.0;
const F = 1 / 298.257223563;
const E2 = F * (2 - F);
const DEG = Math.PI / 180;

export interface GeoPosition { lat: number; lon: number; height_m: number }
export interface LocalPosition { x_m: number; y_m: number; z_m: number }

export function geodeticToEcef(lat: number, lon: number, h: number): [number, number, number] {
  const p = lat * DEG;
  const l = lon * DEG;
  const sp = Math.sin(p);
  const cp = Math.cos(p);
  const n = A / Math.sqrt(1 - E2 * sp * sp);
  return [(n + h) * cp * Math.cos(l), (n + h) * cp * Math.sin(l), (n * (1 - E2) + h) * sp];
}

export function ecefToGeodetic(x: number, y: number, z: number): GeoPosition {
  const lon = Math.atan2(y, x);
  const p = Math.hypot(x, y);
  // Fixed-point iteration on latitude converges to sub-micrometre in a handful of steps away from the poles.
  let lat = Math.atan2(z, p * (1 - E2));
  let h = 0;
  for (let i = 0; i < 8; i++) {
    const sp = Math.sin(lat);
    const n = A / Math.sqrt(1 - E2 * sp * sp);
    h = Math.abs(Math.cos(lat)) > 1e-9 ? p / Math.cos(lat) - n : Math.abs(z) - n * (1 - E2);
    const next = Math.atan2(z, p * (1 - E2 * n / (n + h)));
    if (Math.abs(next - lat) < 1e-14) { lat = next; break; }
    lat = next;
  }
  return { lat: lat / DEG, lon: lon / DEG, height_m: h };
}

/** Prime-vertical and meridian radii of curvature at a latitude (m). */
function radii(latDeg: number): { n: number; m: number } {
  const sp = Math.sin(latDeg * DEG);
  const w = Math.sqrt(1 - E2 * sp * sp);
  return { n: A / w, m: A * (1 - E2) / (w * w * w) };
}

/**
 * Horizontal position is the east/north component in the tangent plane at the origin; z is the height above
 * the origin's ground rather than the tangent-plane up component, because "source 3 m above the ground" should stay
 * 3 m wherever it is in the yard (the tangent plane falls 8 cm below the ellipsoid 1 km away).
 */
export function toLocal(origin: LocalOrigin, p: { lat: number; lon: number; height_m?: number }): LocalPosition {
  const h0 = origin.height_m ?? 0;
  const [x0, y0, z0] = geodeticToEcef(origin.lat, origin.lon, h0);
  const h = p.height_m ?? h0;
  const [x1, y1, z1] = geodeticToEcef(p.lat, p.lon, h);
  const dx = x1 - x0;
  const dy = y1 - y0;
  const dz = z1 - z0;
  const sp = Math.sin(origin.lat * DEG);
  const cp = Math.cos(origin.lat * DEG);
  const sl = Math.sin(origin.lon * DEG);
  const cl = Math.cos(origin.lon * DEG);
  const e = -sl * dx + cl * dy;
  const n = -sp * cl * dx - sp * sl * dy + cp * dz;
  return { x_m: e, y_m: n, z_m: h - h0 };
}

export function toGeo(origin: LocalOrigin, p: LocalPosition): GeoPosition {
  const h0 = origin.height_m ?? 0;
  const h = h0 + p.z_m;
  const r = radii(origin.lat);
  // First guess from the local radii, then Newton steps on the forward map; two steps reach well below a millimetre.
  let lat = origin.lat + p.y_m / (r.m + h0) / DEG;
  let lon = origin.lon + p.x_m / ((r.n + h0) * Math.cos(origin.lat * DEG)) / DEG;
  for (let i = 0; i < 4; i++) {
    const q = toLocal(origin, { lat, lon, height_m: h });
    const ex = p.x_m - q.x_m;
    const ey = p.y_m - q.y_m;
    if (Math.abs(ex) < 1e-6 && Math.abs(ey) < 1e-6) break;
    const rr = radii(lat);
    lat += ey / (rr.m + h) / DEG;
    lon += ex / ((rr.n + h) * Math.cos(lat * DEG)) / DEG;
  }
  return { lat, lon, height_m: h };
}

/** Great-circle-free planar distance between two geographic points through the local frame of the first (m). */
export function localDistance_m(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const q = toLocal({ lat: a.lat, lon: a.lon }, { lat: b.lat, lon: b.lon, height_m: 0 });
  return Math.hypot(q.x_m, q.y_m);
}
