import { createCipheriv, randomBytes } from "node:crypto";
import { createZiggurat, type WordFill } from "./ziggurat.js";

/** A source of standard normal draws; `addTo` is the bulk form addGaussianNoise uses. */
export interface Gaussian {
  (): number;
  addTo(values: Float32Array, std: number, scale: number): void;
  /** Draws from a caller's `uniform` (reproducible, for tests), not from node:crypto. */
  readonly seeded: boolean;
}

/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat Method for
 * Generating Random Variables", 128 layers; exact, by rejection) on WebAssembly (ziggurat.ts), which needs
 * one table lookup and a compare for 99% of draws: a DP-SGD step draws one per weight. Each draw takes a
 * fresh 32-bit word for its value and, for its layer, a byte of another word that no value uses (Doornik
 * 2005 showed the flaw of taking both from the same bits): 5 bytes a draw. 4 would do (a layer from a
 * word's spare bits) only at 24 bits of value, a grid as coarse as float32's: what Mironov 2012 ("On
 * Significance of the Least Significant Bits for Differential Privacy") exploits, so the draws keep 31.
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
  const ziggurat = createZiggurat(fill);
  return Object.assign(() => ziggurat.draw(), { seeded: uniform !== undefined, addTo: ziggurat.addTo });
}

/** values[i] = (values[i] + std · N(0, 1)) / divisor, in one pass (DP-SGD: noise the sum, then average). */
export function addGaussianNoise(values: Float32Array, std: number, gaussian: Gaussian, divisor = 1): void {
  const scale = 1 / divisor;
  if (std > 0) gaussian.addTo(values, std, scale);
  else if (divisor !== 1) for (let i = 0; i < values.length; i++) values[i] *= scale;
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
