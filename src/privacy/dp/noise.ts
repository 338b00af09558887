import { createCipheriv, randomBytes } from "node:crypto";

/** A source of standard normal draws; `addTo` is the bulk form addGaussianNoise uses. */
export interface Gaussian {
  (): number;
  addTo(values: Float32Array, std: number, scale: number): void;
}

/** Fills `out` with uniform doubles in [0, 1). */
type UniformFill = (out: Float64Array) => void;

/**
 * Standard normal draws by Marsaglia's polar method (the Box–Muller transform without trigonometry) over
 * 53-bit uniforms. By default the uniforms come from node:crypto: an AES-256-CTR keystream keyed from the
 * operating system's CSPRNG (the construction of NIST SP 800-90A's CTR_DRBG, without its formal
 * reseeding; a fresh key every 1 GiB), fast enough for a draw per weight per step. Tests pass a seeded
 * `uniform` to make the draws reproducible. Floating-point Gaussian samplers are not exact (Mironov 2012
 * showed the attack on textbook Laplace samplers); exact discrete Gaussians (Canonne, Kamath & Steinke
 * 2020) are left for later.
 */
export function createGaussian(uniform?: () => number): Gaussian {
  const fill: UniformFill = uniform
    ? (out) => {
        for (let i = 0; i < out.length; i++) out[i] = uniform();
      }
    : cryptoUniforms();
  // Draws are made 8192 at a time in one tight loop over a block of uniforms, then handed out.
  const batch = new Float64Array(8192);
  const uniforms = new Float64Array(8192);
  let u01 = uniforms.length;
  let at = batch.length;
  const refill = () => {
    for (let i = 0; i < batch.length; i += 2) {
      let u: number;
      let v: number;
      let s: number;
      do {
        if (u01 + 2 > uniforms.length) {
          fill(uniforms);
          u01 = 0;
        }
        u = 2 * uniforms[u01++] - 1;
        v = 2 * uniforms[u01++] - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const factor = Math.sqrt((-2 * Math.log(s)) / s);
      batch[i] = u * factor;
      batch[i + 1] = v * factor;
    }
    at = 0;
  };
  const next = () => {
    if (at >= batch.length) refill();
    return batch[at++];
  };
  return Object.assign(next, {
    addTo(values: Float32Array, std: number, scale: number) {
      let i = 0;
      while (i < values.length) {
        if (at >= batch.length) refill();
        const end = Math.min(values.length, i + batch.length - at);
        for (; i < end; i++) values[i] = (values[i] + std * batch[at++]) * scale;
      }
    },
  });
}

/** values[i] = (values[i] + std · N(0, 1)) / divisor, in one pass (DP-SGD: noise the sum, then average). */
export function addGaussianNoise(values: Float32Array, std: number, gaussian: Gaussian, divisor = 1): void {
  const scale = 1 / divisor;
  if (std > 0) gaussian.addTo(values, std, scale);
  else if (divisor !== 1) for (let i = 0; i < values.length; i++) values[i] *= scale;
}

/** Uniform doubles with 53 random bits each (27 + 26 from two 32-bit words) of an AES-256-CTR keystream. */
function cryptoUniforms(): UniformFill {
  const rekeyAfter = 1024 * 1024 * 1024;
  let cipher = newKeystream();
  let produced = 0;
  let zeros = Buffer.alloc(0);
  return (out) => {
    if (produced >= rekeyAfter) {
      cipher = newKeystream();
      produced = 0;
    }
    if (zeros.length !== out.length * 8) zeros = Buffer.alloc(out.length * 8);
    const bytes = cipher.update(zeros);
    produced += bytes.length;
    // A Uint32Array view needs a 4-byte-aligned offset; copy in the rare case Node hands out another.
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
    const words = new Uint32Array(aligned.buffer, aligned.byteOffset, out.length * 2);
    for (let i = 0; i < out.length; i++) {
      out[i] = ((words[2 * i] >>> 5) * 67108864 + (words[2 * i + 1] >>> 6)) / 9007199254740992;
    }
  };
}

function newKeystream() {
  return createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
}
