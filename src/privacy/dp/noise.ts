import { randomFillSync } from "node:crypto";
import { createZiggurat, type WordFill } from "./ziggurat.js";

/** A source of standard normal draws; `addTo` is the bulk form addGaussianNoise uses. */
export interface Gaussian {
  (): number;
  addTo(values: Float32Array | Float64Array, std: number, scale: number): void;
  /** Draws from a caller's `uniform` (reproducible, for tests), not from node:crypto. */
  readonly seeded: boolean;
}

/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat Method for
 * Generating Random Variables", 128 layers; exact, by rejection) on WebAssembly (ziggurat.ts), which needs
 * one table lookup and a compare for 99% of draws: a DP-SGD step draws one per weight. Each draw takes a
 * fresh 32-bit word for its value and, for its layer, a byte of another word that no value uses (Doornik
 * 2005 showed the flaw of taking both from the same bits): 5 bytes a draw. 4 would do (the layer from a
 * word's spare bits) only at 24 bits of value, a grid as coarse as float32's, and holes in the outputs'
 * float grid are what Mironov 2012 ("On Significance of the Least Significant Bits for Differential
 * Privacy") exploits: the draws keep 31 bits (assembly/ziggurat.ts says what that buys). Floating-point
 * samplers are not exact; exact discrete Gaussians (Canonne, Kamath & Steinke 2020) are left for later.
 * By default the words come from node:crypto (`cryptoWords`: OpenSSL's CTR_DRBG on AES-256, seeded from
 * the operating system). Tests pass a seeded `uniform` to make draws reproducible.
 */
export function createGaussian(uniform?: () => number): Gaussian {
  const fill: WordFill = uniform
    ? (out) => {
        for (let i = 0; i < out.length; i++) out[i] = Math.floor(uniform() * 4294967296) >>> 0;
      }
    : cryptoWords;
  const ziggurat = createZiggurat(fill);
  return Object.assign(() => ziggurat.draw(), { seeded: uniform !== undefined, addTo: ziggurat.addTo });
}

/** values[i] = (values[i] + std · N(0, 1)) / divisor, in one pass (DP-SGD: noise the sum, then average). */
export function addGaussianNoise(values: Float32Array, std: number, gaussian: Gaussian, divisor = 1): void {
  const scale = 1 / divisor;
  if (std > 0) gaussian.addTo(values, std, scale);
  else if (divisor !== 1) for (let i = 0; i < values.length; i++) values[i] *= scale;
}

/** Uniform draws in (0, 1) with 53 random bits each, from the same node:crypto generator as the noise. */
export function createCryptoUniform(): () => number {
  const words = new Uint32Array(4096);
  let w = words.length;
  return () => {
    if (w + 2 > words.length) {
      cryptoWords(words);
      w = 0;
    }
    const high = words[w++] >>> 5; // 27 bits
    const low = words[w++] >>> 6; // 26 bits
    return (high * 67108864 + low + 0.5) / 9007199254740992;
  };
}

/**
 * 32-bit words from node:crypto's generator, written in place: OpenSSL's default DRBG, NIST SP 800-90A's
 * CTR_DRBG on AES-256 (an AES-256-CTR keystream with the standard's update after each request), seeded and
 * reseeded from the operating system (OpenSSL 3's RAND(7)). It is what keyed the keystream this replaced
 * (node:crypto's randomBytes), and it costs a third of that keystream here: no cipher output to allocate
 * and copy (0.09–0.10 ms against 0.17–0.30 ms for the 509 KB of a DP-SGD step of the MLP, load 21).
 */
function cryptoWords(out: Uint32Array): void {
  randomFillSync(out);
}
