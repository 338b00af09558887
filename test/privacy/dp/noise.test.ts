import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/ml/rng.js";
import { addGaussianNoise, createGaussian } from "../../../src/privacy/dp/noise.js";
import { wordsPerRefill, zigguratTables } from "../../../src/privacy/dp/ziggurat.js";

/**
 * Marsaglia & Tsang's RNOR (2000) in plain JavaScript over the word stream that src/ml/engine/assembly/
 * ziggurat.ts documents: one word per value (signed), a layer byte of a word shared by four draws, the
 * slow path's words in order right after, a buffer of `wordsPerRefill` words whose last is skipped when a
 * fast draw needs two. The WebAssembly sampler must give the same draws.
 */
function referenceGaussian(uniform: () => number): () => number {
  const { r, bound, width, density } = zigguratTables;
  const words = new Uint32Array(wordsPerRefill);
  let at = words.length;
  const refill = () => {
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(uniform() * 4294967296) >>> 0;
    at = 0;
  };
  const word = () => {
    if (at >= words.length) refill();
    return words[at++];
  };
  const open01 = () => (word() + 0.5) / 4294967296;
  let layers = 0;
  let left = 0;
  return () => {
    if (at > words.length - 2) refill();
    let hz = words[at++] | 0;
    if (left === 0) {
      layers = words[at++];
      left = 4;
    }
    let iz = layers & 127;
    layers >>>= 8;
    left--;
    for (;;) {
      const x = hz * width[iz];
      if (Math.abs(hz) < bound[iz]) return x;
      if (iz === 0) {
        let tail: number;
        let y: number;
        do {
          tail = -Math.log(open01()) / r;
          y = -Math.log(open01());
        } while (y + y < tail * tail);
        return hz > 0 ? r + tail : -r - tail;
      }
      if (density[iz] + open01() * (density[iz - 1] - density[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = word() | 0;
      iz = word() & 127;
    }
  };
}

function moments(values: ArrayLike<number>) {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    squares += values[i] * values[i];
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(squares / values.length - mean * mean) };
}

describe("Gaussian noise", () => {
  it("has the requested std and mean 0 (seeded, 200 000 draws, within 5 standard errors)", () => {
    const n = 200_000;
    const std = 1.1 * 0.5; // noise multiplier × clip norm
    const values = new Float32Array(n);
    const rng = createRng(42);
    addGaussianNoise(
      values,
      std,
      createGaussian(() => rng.next()),
    );
    const m = moments(values);
    // Standard errors: of the mean σ/√n, of the standard deviation σ/√(2n).
    assert.ok(Math.abs(m.mean) < (5 * std) / Math.sqrt(n), `mean ${m.mean}`);
    assert.ok(Math.abs(m.std - std) < (5 * std) / Math.sqrt(2 * n), `std ${m.std}`);
    // Tails of a normal: about 4.55% beyond 2σ (binomial standard error 0.047% at this n).
    const beyond = values.filter((v) => Math.abs(v) > 2 * std).length / n;
    assert.ok(Math.abs(beyond - 0.0455) < 5 * 0.00047, `beyond 2σ: ${beyond}`);
    // The ziggurat's tail path: |x| > r = 3.4426 has probability 5.76e-4 (115 ± 11 of 200 000), and
    // beyond 4σ 6.33e-5 (13 ± 3.6).
    const tail = values.filter((v) => Math.abs(v) > 3.442619855899 * std).length;
    assert.ok(Math.abs(tail - 115.2) < 5 * 10.7, `beyond r: ${tail}`);
    const far = values.filter((v) => Math.abs(v) > 4 * std).length;
    assert.ok(Math.abs(far - 12.7) < 5 * 3.6, `beyond 4σ: ${far}`);
    // Each decile of the standard normal holds a tenth of the draws (binomial standard error 0.067%).
    const deciles = [-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816];
    for (const [i, edge] of deciles.entries()) {
      const share = values.filter((v) => v < edge * std).length / n;
      assert.ok(Math.abs(share - (i + 1) / 10) < 5 * 0.00067, `below decile ${i + 1}: ${share}`);
    }
  });

  it("draws from node:crypto by default: two sources never repeat each other", () => {
    const a = createGaussian();
    const b = createGaussian();
    const xs = Array.from({ length: 8 }, () => a());
    const ys = Array.from({ length: 8 }, () => b());
    assert.notDeepEqual(xs, ys);
    const m = moments(Array.from({ length: 50_000 }, () => a()));
    assert.ok(Math.abs(m.std - 1) < 0.03, `std ${m.std}`);
  });

  it("adds, in bulk, exactly the draws one-at-a-time calls give from the same words (slow paths included)", () => {
    const n = 50_000; // ~1% of draws take the slow path (wedges, the tail), and the word buffer refills
    const one = createRng(9);
    const bulk = createRng(9);
    const single = createGaussian(() => one.next());
    const expected = new Float32Array(n);
    for (let i = 0; i < n; i++) expected[i] = (0.25 + 0.7 * single()) * 0.5;
    const values = new Float32Array(n).fill(0.25);
    createGaussian(() => bulk.next()).addTo(values, 0.7, 0.5);
    assert.deepEqual(values, expected);
    // And the state carries over: the next draws agree too.
    const fresh = createRng(3);
    const gaussian = createGaussian(() => fresh.next());
    const again = createRng(3);
    const reference = createGaussian(() => again.next());
    const first = new Float32Array(3);
    gaussian.addTo(first, 1, 1);
    for (let i = 0; i < 3; i++) assert.equal(first[i], Math.fround(reference()));
    assert.equal(gaussian(), reference());
  });

  it("draws what Marsaglia & Tsang's ziggurat gives over the same words (a JavaScript reference), in pieces of any size", () => {
    // 60 000 draws: ~720 outside their rectangle (wedges), ~35 in the tail, 5 refills of the words, 4
    // chunks of the values; pieces that split the four draws sharing a layer word, and one value alone.
    const n = 60_000;
    const reference = referenceGaussian(createRng(21).next);
    const expected = new Float32Array(n);
    const draws = new Float64Array(n);
    let tails = 0;
    for (let i = 0; i < n; i++) {
      const z = reference();
      if (Math.abs(z) > zigguratTables.r) tails++;
      draws[i] = z;
      expected[i] = (-0.125 + 1.3 * z) * 0.25;
    }
    assert.ok(tails > 10, `${tails} tail draws`);
    const gaussian = createGaussian(createRng(21).next);
    const values = new Float32Array(n).fill(-0.125);
    const pieces = [1, 3, 2, 7, 16_384, 5, 1, 20_000];
    let from = 0;
    for (const size of [...pieces, n - pieces.reduce((a, b) => a + b)]) {
      gaussian.addTo(values.subarray(from, from + size), 1.3, 0.25);
      from += size;
    }
    assert.equal(from, n);
    let differing = 0;
    for (let i = 0; i < n; i++) if (values[i] !== expected[i]) differing++;
    assert.equal(differing, 0, `${differing} of ${n} values differ from the reference`);
    // A single draw continues the same stream, in float64.
    assert.equal(gaussian(), reference());
    // Float64 values (the noise thread's slots) get the draws at full precision.
    const wide = new Float64Array(n);
    createGaussian(createRng(21).next).addTo(wide, 1, 1);
    differing = 0;
    for (let i = 0; i < n; i++) if (wide[i] !== draws[i]) differing++;
    assert.equal(differing, 0, `${differing} of ${n} float64 draws differ from the reference`);
  });

  it("adds nothing at std 0", () => {
    const values = Float32Array.of(1, 2, 3);
    addGaussianNoise(values, 0, createGaussian());
    assert.deepEqual(Array.from(values), [1, 2, 3]);
  });
});
