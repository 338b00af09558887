import { createCipheriv, randomBytes } from "node:crypto";

/** A source of standard normal draws; `addTo` is the bulk form addGaussianNoise uses. */
export interface Gaussian {
  (): number;
  addTo(values: Float32Array, std: number, scale: number): void;
  /** Draws from a caller's `uniform` (reproducible, for tests), not from node:crypto. */
  readonly seeded: boolean;
}

/** Fills `out` with independent uniform 32-bit words. */
type WordFill = (out: Uint32Array) => void;

/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat Method for
 * Generating Random Variables", 128 layers; exact, by rejection), which needs one table lookup and a
 * compare for 99% of draws: a DP-SGD step draws one per weight. Each draw takes a fresh 32-bit word for
 * its value and, for its layer, a byte of another word that no value uses (Doornik 2005 showed the flaw
 * of taking both from the same bits).
 * By default the words come from node:crypto: an AES-256-CTR keystream keyed from the operating system's
 * CSPRNG (the construction of NIST SP 800-90A's CTR_DRBG, without its formal reseeding; a fresh key every
 * GiB). Tests pass a seeded `uniform` to make draws reproducible. Floating-point Gaussian samplers are not
 * exact (Mironov 2012 showed the attack on textbook Laplace samplers); exact discrete Gaussians (Canonne,
 * Kamath & Steinke 2020) are left for later.
 */
export function createGaussian(uniform?: () => number): Gaussian {
  const fill: WordFill = uniform
    ? (out) => {
        for (let i = 0; i < out.length; i++) out[i] = Math.floor(uniform() * 4294967296) >>> 0;
      }
    : cryptoWords();
  const words = new Uint32Array(16384);
  let w = words.length;
  const word = () => {
    if (w >= words.length) {
      fill(words);
      w = 0;
    }
    return words[w++];
  };
  /** A uniform in (0, 1) from one word. */
  const open01 = () => (word() + 0.5) / 4294967296;
  /** One draw: a word for the value, 7 bits of another word's own byte for the layer (four per word). */
  let layers = 0;
  let layersLeft = 0;
  const draw = () => {
    if (w + 2 > words.length) {
      fill(words);
      w = 0;
    }
    const hz = words[w++] | 0;
    if (layersLeft === 0) {
      layers = words[w++];
      layersLeft = 4;
    }
    const iz = layers & 127;
    layers >>>= 8;
    layersLeft--;
    return Math.abs(hz) < kn[iz] ? hz * wn[iz] : slowPath(hz, iz, word, open01);
  };
  return Object.assign(draw, {
    seeded: uniform !== undefined,
    /**
     * The same draws as calling `draw` once per value, in the same order from the same words, with the
     * generator's state in locals: V8 keeps the closure's mutable state in a context object, and reading
     * and writing it per draw cost ~10× the ziggurat itself (a DP-SGD step of the MLP draws 101,770).
     */
    addTo(values: Float32Array, std: number, scale: number) {
      const squared = acceptSquared;
      const width = wn;
      const end = words.length - 2;
      let at = w;
      let bits = layers | 0;
      let left = layersLeft;
      for (let i = 0; i < values.length; i++) {
        if (at > end) {
          fill(words);
          at = 0;
        }
        const hz = words[at++] | 0;
        if (left === 0) {
          bits = words[at++] | 0;
          left = 4;
        }
        const iz = bits & 127;
        bits >>= 8; // the bytes taken are the low ones: the sign bits shifted in are never read
        left--;
        let x: number;
        if (hz * hz <= squared[iz])
          x = hz * width[iz]; // |hz| < kn[iz] without a sign branch
        else {
          w = at;
          x = slowPath(hz, iz, word, open01);
          at = w;
        }
        values[i] = (values[i] + std * x) * scale;
      }
      w = at;
      layers = bits >>> 0;
      layersLeft = left;
    },
  });
}

/** values[i] = (values[i] + std · N(0, 1)) / divisor, in one pass (DP-SGD: noise the sum, then average). */
export function addGaussianNoise(values: Float32Array, std: number, gaussian: Gaussian, divisor = 1): void {
  const scale = 1 / divisor;
  if (std > 0) gaussian.addTo(values, std, scale);
  else if (divisor !== 1) for (let i = 0; i < values.length; i++) values[i] *= scale;
}

// The ziggurat's tables (Marsaglia & Tsang 2000, RNOR's zigset with 128 layers): kn the acceptance
// bounds on |hz|, wn the widths per unit of hz, fn the density at each layer's edge.
const r = 3.442619855899;
const kn = new Float64Array(128);
const wn = new Float64Array(128);
const fn = new Float64Array(128);
{
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = r;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = (dn / q) * m1;
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = (dn / tn) * m1;
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
}

/**
 * The fast path's test |hz| < kn[iz] as hz² ≤ T² with T = ⌈kn⌉ − 1, the largest accepted |hz| (−1 for an
 * empty layer): an unpredictable sign branch cost a third of the bulk loop. Exact in doubles: squaring
 * rounds monotonically, and past T the next square is 2T + 1 larger, far above the rounding at 2^62.
 */
const acceptSquared = kn.map((k) => {
  const largest = Math.ceil(k) - 1;
  return largest < 0 ? -1 : largest * largest;
});

/** RNOR's nfix: the base strip's tail beyond r, or a wedge's rejection test, else a fresh draw. */
function slowPath(hz: number, iz: number, word: () => number, open01: () => number): number {
  for (;;) {
    const x = hz * wn[iz];
    if (iz === 0) {
      let tail: number;
      let y: number;
      do {
        tail = -Math.log(open01()) / r;
        y = -Math.log(open01());
      } while (y + y < tail * tail);
      return hz > 0 ? r + tail : -r - tail;
    }
    if (fn[iz] + open01() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
    hz = word() | 0;
    iz = word() & 127;
    if (Math.abs(hz) < kn[iz]) return hz * wn[iz];
  }
}

/** Uniform draws in (0, 1) with 53 random bits each, from the same node:crypto keystream as the noise. */
export function createCryptoUniform(): () => number {
  const fill = cryptoWords();
  const words = new Uint32Array(4096);
  let w = words.length;
  return () => {
    if (w + 2 > words.length) {
      fill(words);
      w = 0;
    }
    const high = words[w++] >>> 5; // 27 bits
    const low = words[w++] >>> 6; // 26 bits
    return (high * 67108864 + low + 0.5) / 9007199254740992;
  };
}

/** 32-bit words of an AES-256-CTR keystream keyed from the OS generator, re-keyed every GiB. */
function cryptoWords(): WordFill {
  const rekeyAfter = 1024 * 1024 * 1024;
  let cipher = newKeystream();
  let produced = 0;
  let zeros = Buffer.alloc(0);
  return (out) => {
    if (produced >= rekeyAfter) {
      cipher = newKeystream();
      produced = 0;
    }
    if (zeros.length !== out.length * 4) zeros = Buffer.alloc(out.length * 4);
    const bytes = cipher.update(zeros);
    produced += bytes.length;
    new Uint8Array(out.buffer, out.byteOffset, out.length * 4).set(bytes);
  };
}

function newKeystream() {
  return createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
}
