/**
 * The encoding secure aggregation sums (Bonawitz et al., CCS 2017, §3: inputs in Z_R): each coordinate of
 * an update is clipped to [−clip, clip], rounded to a signed `bits`-bit integer, multiplied by the node's
 * sample count, and stored as a 32-bit word; the count itself is the last word. Words add modulo 2^32
 * (R = 2^32), so the sum of all nodes decodes to Σ countᵢ·xᵢ and Σ countᵢ as long as no partial sum
 * leaves the signed 32-bit range: `checkCapacity` refuses a configuration where it could.
 */

export interface FixedPoint {
  /** Each update coordinate is clipped to [−clip, clip]. */
  clip: number;
  /** Signed bits per quantized coordinate, sign included (2…31). */
  bits: number;
}

const INT32_MAX = 2 ** 31 - 1;

/** Quantization steps per unit: ±clip maps to ±(2^(bits−1) − 1). */
export function scaleOf({ clip, bits }: FixedPoint): number {
  return (2 ** (bits - 1) - 1) / clip;
}

/** Largest error of one decoded mean coordinate that was not clipped: half a quantization step. */
export function quantizationBound(fp: FixedPoint): number {
  return 0.5 / scaleOf(fp);
}

/** Why `totalSamples` over all nodes could overflow the 32-bit sum with these settings, or undefined. */
export function capacityProblem(fp: FixedPoint, totalSamples: number): string | undefined {
  const largest = totalSamples * (2 ** (fp.bits - 1) - 1);
  if (largest <= INT32_MAX) return undefined;
  const fits = Math.floor(Math.log2(INT32_MAX / totalSamples)) + 1;
  return (
    `${totalSamples} samples × ${fp.bits}-bit values can overflow the 32-bit masked sum ` +
    `(${largest} > 2^31 − 1); use secagg.bits ${fits} or fewer`
  );
}

/** The largest bits (≤ 24) for which `totalSamples` cannot overflow; 0 when not even 2 bits fit. */
export function bitsFor(totalSamples: number): number {
  for (let bits = 24; bits >= 2; bits--) if (!capacityProblem({ clip: 1, bits }, totalSamples)) return bits;
  return 0;
}

/** One node's input vector: Σ lengths + 1 words, count·q(x) per coordinate, then the count. */
export function encodeUpdate(update: readonly Float32Array[], samples: number, fp: FixedPoint): Uint32Array {
  const scale = scaleOf(fp);
  const length = update.reduce((n, t) => n + t.length, 0);
  const out = new Int32Array(length + 1);
  let k = 0;
  for (const t of update) {
    for (let i = 0; i < t.length; i++) {
      const x = Math.min(fp.clip, Math.max(-fp.clip, t[i]));
      out[k++] = Math.round(x * scale) * samples;
    }
  }
  out[length] = samples;
  return new Uint32Array(out.buffer);
}

/** The sum of every node's input decoded: the sample-weighted mean update (shaped by `lengths`) and Σ counts. */
export function decodeSum(
  sum: Uint32Array,
  lengths: readonly number[],
  fp: FixedPoint,
): { mean: Float32Array[]; samples: number } {
  const samples = sum[sum.length - 1];
  return { mean: scaled(sum, lengths, 1 / (scaleOf(fp) * samples)), samples };
}

/** A sum of unweighted quantized values (no count word), decoded: Σ xᵢ shaped by `lengths`. */
export function decodeTotal(sum: Uint32Array, lengths: readonly number[], fp: FixedPoint): Float32Array[] {
  return scaled(sum, lengths, 1 / scaleOf(fp));
}

function scaled(sum: Uint32Array, lengths: readonly number[], factor: number): Float32Array[] {
  const words = new Int32Array(sum.buffer, sum.byteOffset, sum.length);
  let k = 0;
  return lengths.map((n) => {
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = words[k++] * factor;
    return t;
  });
}
