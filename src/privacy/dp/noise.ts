import { randomBytes } from "node:crypto";

/** A source of standard normal draws. */
export type Gaussian = () => number;

/**
 * Standard normal draws by the Box–Muller transform over 53-bit uniforms. By default the uniforms come
 * from node:crypto (the operating system's CSPRNG, drawn 8 KiB at a time); tests pass a seeded `uniform`
 * to make the draws reproducible. Floating-point Gaussian samplers are not exact (Mironov 2012 showed the
 * attack on textbook Laplace samplers); exact discrete Gaussians are left for later.
 */
export function createGaussian(uniform: () => number = cryptoUniform()): Gaussian {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    // 1 − u keeps the logarithm's argument in (0, 1].
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** values[i] += std · N(0, 1). */
export function addGaussianNoise(values: Float32Array, std: number, gaussian: Gaussian): void {
  if (std === 0) return;
  for (let i = 0; i < values.length; i++) values[i] += std * gaussian();
}

/** Uniform doubles in [0, 1) with 53 random bits each, from node:crypto. */
function cryptoUniform(): () => number {
  const poolSize = 1024;
  let pool = new BigUint64Array(0);
  let at = 0;
  return () => {
    if (at >= pool.length) {
      const bytes = randomBytes(poolSize * 8);
      pool = new BigUint64Array(bytes.buffer, bytes.byteOffset, poolSize);
      at = 0;
    }
    return Number(pool[at++] >> 11n) / 2 ** 53;
  };
}
