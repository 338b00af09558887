import { randomBytes } from "node:crypto";

/**
 * Shamir secret sharing (Shamir 1979) over GF(p), p = 2^521 − 1 (a Mersenne prime), as Bonawitz et al.
 * (CCS 2017, §4, "SS.share / SS.recon") use it for the self-mask seed and the mask key: any `threshold`
 * shares rebuild a 32-byte secret, fewer tell nothing about it.
 */

const P = (1n << 521n) - 1n;
/** Bytes of one share's y value (521 bits). */
export const SHARE_BYTES = 66;

export interface Share {
  /** The holder's x coordinate (its index in the round, ≥ 1). */
  x: number;
  y: Uint8Array;
}

/** Splits `secret` (at most 64 bytes) into one share per x coordinate; any `threshold` of them rebuild it. */
export function splitSecret(secret: Uint8Array, xs: readonly number[], threshold: number): Share[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new RangeError(`Threshold ${threshold} must be between 1 and the ${xs.length} shareholders`);
  }
  if (new Set(xs).size !== xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new RangeError("Share x coordinates must be distinct positive integers");
  }
  const coefficients = [toBigInt(secret)];
  for (let i = 1; i < threshold; i++) coefficients.push(toBigInt(randomBytes(SHARE_BYTES)) % P);
  return xs.map((x) => {
    // Horner: a0 + x(a1 + x(a2 + …))
    let y = 0n;
    for (let i = coefficients.length - 1; i >= 0; i--) y = (y * BigInt(x) + coefficients[i]) % P;
    return { x, y: toBytes(y, SHARE_BYTES) };
  });
}

/** The secret (`bytes` long) from at least `threshold` shares: Lagrange interpolation at 0. */
export function combineShares(shares: readonly Share[], bytes = 32): Uint8Array {
  if (new Set(shares.map((s) => s.x)).size !== shares.length) throw new RangeError("Two shares have the same x");
  let secret = 0n;
  for (const si of shares) {
    let num = 1n;
    let den = 1n;
    for (const sj of shares) {
      if (sj.x === si.x) continue;
      num = (num * BigInt(sj.x)) % P;
      den = (den * mod(BigInt(sj.x - si.x))) % P;
    }
    secret = (secret + toBigInt(si.y) * num * inverse(den)) % P;
  }
  return toBytes(secret, bytes);
}

const mod = (a: bigint) => ((a % P) + P) % P;

/** a⁻¹ mod P by the extended Euclidean algorithm. */
function inverse(a: bigint): bigint {
  let [r0, r1] = [P, mod(a)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return mod(t0);
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

function toBytes(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16).padStart(length * 2, "0");
  if (hex.length > length * 2) throw new RangeError(`Value does not fit ${length} bytes`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}
