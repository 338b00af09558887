// AssemblyScript: standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat
// Method for Generating Random Variables", RNOR with 128 layers; exact, by rejection) over 32-bit words that
// the TypeScript side writes into this module's memory (src/privacy/dp/ziggurat.ts: an AES-256-CTR keystream
// from node:crypto, or a test's seeded generator). This file is a module of its own (`npm run build:kernels`
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
// value and scaled in float64 and rounded to float32 once. Not an exact sampler (a discrete Gaussian would
// be: Canonne, Kamath & Steinke 2020), but no coarser than the JavaScript sampler it replaces: the same
// bits per draw, the same arithmetic.

@external("env", "refill")
declare function refill(): void;

/** Where `setup` put the tables (float64 [128] each) and the word buffer, and the stream's position. */
let accept: usize = 0; // T² with T the largest |hz| inside the layer's rectangle (−1 for none)
let width: usize = 0; // the layer's x per unit of hz
let density: usize = 0; // exp(−x²/2) at the layer's edge
let r: f64 = 0; // the base strip's edge, where the tail starts
let words: usize = 0;
let count: i32 = 0;
let at: i32 = 0;
let layers: u32 = 0;
let layersLeft: i32 = 0;

/**
 * `tables`: accept, width and density, 128 float64 each, then r. `buffer`: `wordCount` words that the
 * imported `refill()` overwrites whenever the stream needs more; the first draw calls it.
 */
export function zigguratSetup(tables: usize, buffer: usize, wordCount: i32): void {
  accept = tables;
  width = tables + 128 * 8;
  density = tables + 256 * 8;
  r = load<f64>(tables + 384 * 8);
  words = buffer;
  count = wordCount;
  at = wordCount;
  layersLeft = 0;
}

/** values[i] = (values[i] + std · z_i) · scale for `n` float32 values, z_i fresh N(0, 1) draws. */
export function zigguratAdd(values: usize, n: i32, std: f64, scale: f64): void {
  // The stream's position in locals: globals are memory to V8's code, and this loop is the whole cost.
  let p = at;
  let bits = layers;
  let left = layersLeft;
  const end = count - 2;
  for (let i = 0; i < n; i++) {
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
    const h = <f64>hz;
    let x: f64;
    // |hz| < the layer's bound as hz² ≤ T²: exact in float64, and no branch on the sign.
    if (h * h <= load<f64>(accept + (iz << 3))) x = h * load<f64>(width + (iz << 3));
    else {
      at = p;
      x = outside(hz, iz);
      p = at;
    }
    const v = values + (<usize>i << 2);
    store<f32>(v, <f32>((<f64>load<f32>(v) + std * x) * scale));
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
  const h = <f64>hz;
  if (h * h <= load<f64>(accept + (iz << 3))) return h * load<f64>(width + (iz << 3));
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
    const h = <f64>hz;
    if (h * h <= load<f64>(accept + (iz << 3))) return h * load<f64>(width + (iz << 3));
  }
}

/** First byte the TypeScript side may use: everything below belongs to static data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
