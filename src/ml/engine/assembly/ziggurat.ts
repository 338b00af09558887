// AssemblyScript: standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat
// Method for Generating Random Variables", RNOR with 128 layers; exact, by rejection) over 32-bit words that
// the TypeScript side writes into this module's memory (src/privacy/dp/noise.ts: node:crypto's CTR_DRBG on
// AES-256, or a test's seeded generator). This file is a module of its own (`npm run build:kernels`
// writes it to src/ml/engine/ziggurat-wasm.ts), not part of index.ts: it imports `refill`, which the
// training kernels' instances do not provide, and DP-SGD's noise source needs none of their code.
//
// The word stream, in the order it is read (the same as the JavaScript sampler's it replaces):
// * a draw takes one word for its value, hz = the word as a signed 32-bit integer (sign and 31 bits), and
//   its layer from 7 bits of its own byte of a layer word that four consecutive draws share (read before
//   the first of them): value and layer never share a bit (Doornik 2005, "An Improved Ziggurat Method to
//   Generate Normal Random Samples", showed the flaw of taking both from one word);
// * a draw outside its layer's rectangle (about 1.2% of them) reads, at once and in order, one word per
//   uniform of the wedge or tail test and two words (value, then layer from its low 7 bits) per retry;
// * a fast draw needs up to two words: with fewer than two left the rest of the buffer is skipped.
// Floating point (Mironov 2012, "On Significance of the Least Significant Bits for Differential Privacy"):
// each value has 31 bits below its layer's edge, so within a layer the draws lie on a grid 2^-31 of the
// edge apart, about 2^7 finer than a float32's spacing at the same magnitude; the noise is added to the
// value and scaled in float64 and rounded to float32 once. DP-SGD's noise thread keeps its draws in float64
// (zigguratAdd64) for the same reason: it rounded them to float32 first before, a grid as coarse as that. Not an exact sampler (a discrete Gaussian would
// be: Canonne, Kamath & Steinke 2020), but no coarser than the JavaScript sampler it replaces: the same
// bits per draw, the same arithmetic.

@external("env", "refill")
declare function refill(): void;

/** Where `setup` put the tables and the word buffer, and the stream's position. */
let width: usize = 0; // float64 [128]: the layer's x per unit of hz
let density: usize = 0; // float64 [128]: exp(−x²/2) at the layer's edge
let r: f64 = 0; // the base strip's edge, where the tail starts
let bound: usize = 0; // uint32 [128]: ⌈kn⌉, the rectangle is |hz| < bound (0: an empty layer)
let words: usize = 0;
let count: i32 = 0;
let at: i32 = 0;
let layers: u32 = 0;
let layersLeft: i32 = 0;

/**
 * `tables`: width and density (128 float64 each), r (float64), then bound (128 uint32). `buffer`:
 * `wordCount` words that the imported `refill()` overwrites whenever the stream needs more; the first draw
 * calls it.
 */
export function zigguratSetup(tables: usize, buffer: usize, wordCount: i32): void {
  width = tables;
  density = tables + 128 * 8;
  r = load<f64>(tables + 256 * 8);
  bound = tables + 257 * 8;
  words = buffer;
  count = wordCount;
  at = wordCount;
  layersLeft = 0;
}

/** |hz| < bound[iz], as unsigned integers: |−2^31| is 2^31, past every bound. */
@inline
function inside(hz: i32, iz: usize): bool {
  const sign = hz >> 31;
  return <u32>((hz ^ sign) - sign) < load<u32>(bound + (iz << 2));
}

/** values[i] = (values[i] + std · z_i) · scale for `n` float32 values, z_i fresh N(0, 1) draws. */
export function zigguratAdd(values: usize, n: i32, std: f64, scale: f64): void {
  addNoise<f32>(values, n, std, scale);
}

/**
 * The same for float64 values: DP-SGD's noise thread keeps its draws in float64 (std 1, scale 1 on zeros
 * gives z itself), so that the step adds std · z at the draws' full precision, as on one thread.
 */
export function zigguratAdd64(values: usize, n: i32, std: f64, scale: f64): void {
  addNoise<f64>(values, n, std, scale);
}

/** Both: T is the values' type (f32 or f64); the arithmetic is float64 either way. */
@inline
function addNoise<T>(values: usize, n: i32, std: f64, scale: f64): void {
  // The stream's position in locals: globals are memory to V8's code, and this loop is the whole cost.
  let p = at;
  let bits = layers;
  let left = layersLeft;
  const end = count - 2;
  const stds = f64x2.splat(std);
  const scales = f64x2.splat(scale);
  let i = 0;
  while (i < n) {
    // Four draws that share a layer word at once, their words [hz0, layers, hz1, hz2, hz3] in place, when
    // all four fall inside their rectangles (95% of groups): the same values as one at a time. Otherwise,
    // and near the buffer's end, one at a time (a rejected draw's further words come before the next's).
    if (left == 0 && p <= count - 6 && i + 4 <= n) {
      const w = words + (<usize>p << 2);
      const lw = load<u32>(w + 4);
      const hz = i32x4.replace_lane(v128.load(w + 4), 0, load<i32>(w));
      const i0 = <usize>(lw & 127);
      const i1 = <usize>((lw >>> 8) & 127);
      const i2 = <usize>((lw >>> 16) & 127);
      const i3 = <usize>((lw >>> 24) & 127);
      let bounds = i32x4.splat(load<i32>(bound + (i0 << 2)));
      bounds = i32x4.replace_lane(bounds, 1, load<i32>(bound + (i1 << 2)));
      bounds = i32x4.replace_lane(bounds, 2, load<i32>(bound + (i2 << 2)));
      bounds = i32x4.replace_lane(bounds, 3, load<i32>(bound + (i3 << 2)));
      if (i32x4.all_true(i32x4.lt_u(i32x4.abs(hz), bounds))) {
        const wLow = f64x2.replace_lane(f64x2.splat(load<f64>(width + (i0 << 3))), 1, load<f64>(width + (i1 << 3)));
        const wHigh = f64x2.replace_lane(f64x2.splat(load<f64>(width + (i2 << 3))), 1, load<f64>(width + (i3 << 3)));
        const xLow = f64x2.mul(f64x2.convert_low_i32x4_s(hz), wLow);
        const xHigh = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(hz, hz, 2, 3, 0, 1)), wHigh);
        if (sizeof<T>() == 4) {
          const v = values + (<usize>i << 2);
          const old = v128.load(v);
          const low = f64x2.mul(f64x2.add(f64x2.promote_low_f32x4(old), f64x2.mul(stds, xLow)), scales);
          const oldHigh = i32x4.shuffle(old, old, 2, 3, 0, 1);
          const high = f64x2.mul(f64x2.add(f64x2.promote_low_f32x4(oldHigh), f64x2.mul(stds, xHigh)), scales);
          v128.store(v, i32x4.shuffle(f32x4.demote_f64x2_zero(low), f32x4.demote_f64x2_zero(high), 0, 1, 4, 5));
        } else {
          const v = values + (<usize>i << 3);
          v128.store(v, f64x2.mul(f64x2.add(v128.load(v), f64x2.mul(stds, xLow)), scales));
          v128.store(v + 16, f64x2.mul(f64x2.add(v128.load(v + 16), f64x2.mul(stds, xHigh)), scales));
        }
        p += 5;
        i += 4;
        continue;
      }
    }
    if (p > end) {
      refill();
      p = 0;
    }
    const hz = load<i32>(words + (<usize>p << 2));
    p++;
    if (left == 0) {
      bits = load<u32>(words + (<usize>p << 2));
      p++;
      left = 4;
    }
    const iz = <usize>(bits & 127);
    bits >>>= 8;
    left--;
    let x: f64;
    if (inside(hz, iz)) x = <f64>hz * load<f64>(width + (iz << 3));
    else {
      at = p;
      x = outside(hz, iz);
      p = at;
    }
    const v = values + (<usize>i * sizeof<T>());
    store<T>(v, <T>((<f64>load<T>(v) + std * x) * scale));
    i++;
  }
  at = p;
  layers = bits;
  layersLeft = left;
}

/** One N(0, 1) draw from the same stream (as `zigguratAdd` would have drawn it next). */
export function zigguratDraw(): f64 {
  if (at > count - 2) {
    refill();
    at = 0;
  }
  const hz = load<i32>(words + (<usize>at << 2));
  at++;
  if (layersLeft == 0) {
    layers = load<u32>(words + (<usize>at << 2));
    at++;
    layersLeft = 4;
  }
  const iz = <usize>(layers & 127);
  layers >>>= 8;
  layersLeft--;
  if (inside(hz, iz)) return <f64>hz * load<f64>(width + (iz << 3));
  return outside(hz, iz);
}

/** The next word of the stream, refilling the buffer when it is used up. */
function word(): u32 {
  if (at >= count) {
    refill();
    at = 0;
  }
  const w = load<u32>(words + (<usize>at << 2));
  at++;
  return w;
}

/** A uniform in (0, 1) from one word. */
function open01(): f64 {
  return (<f64>word() + 0.5) / 4294967296.0;
}

/** RNOR's nfix: the base strip's tail beyond r, or a wedge's rejection test, else a fresh draw. */
function outside(hz: i32, iz: usize): f64 {
  while (true) {
    const x = <f64>hz * load<f64>(width + (iz << 3));
    if (iz == 0) {
      // Marsaglia's tail method: x = r + t with t exponential of rate r, kept with probability exp(−t²/2).
      let tail: f64;
      let y: f64;
      do {
        tail = -Math.log(open01()) / r;
        y = -Math.log(open01());
      } while (y + y < tail * tail);
      return hz > 0 ? r + tail : -r - tail;
    }
    const edge = load<f64>(density + (iz << 3));
    const inner = load<f64>(density + ((iz - 1) << 3));
    if (edge + open01() * (inner - edge) < Math.exp(-0.5 * x * x)) return x;
    hz = <i32>word();
    iz = <usize>(word() & 127);
    if (inside(hz, iz)) return <f64>hz * load<f64>(width + (iz << 3));
  }
}

/** First byte the TypeScript side may use: everything below belongs to static data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
