/**
 * A small seeded pseudo-random generator (mulberry32) whose whole state is one 32-bit integer, so a
 * breakpoint can store it and training resumes with the same row order.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [index: number]: unknown }>(array: T): T;
  /** The current state; `createRng(0, { state })` continues the same sequence. */
  state(): number;
}

/** Creates a generator from a seed, or from a saved `state` (which wins over the seed). */
export function createRng(seed: number, options: { state?: number } = {}): Rng {
  // The state is kept as a signed 32-bit integer (the same bits as the unsigned one every operation
  // below reads): an unsigned value past 2³⁰ is boxed as a heap number at every step, which made a
  // 60,000-row shuffle leave ~0.5 MiB of garbage on every round of a node (issue 28).
  let s = (options.state !== undefined ? options.state : mixSeed(seed)) | 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    shuffle(array) {
      for (let i = array.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = array[i];
        array[i] = array[j];
        array[j] = tmp;
      }
      return array;
    },
    state: () => s >>> 0,
  };
}

/**
 * Derives an independent 31-bit seed from a base seed and labels (a layer index, "split", "dropout"),
 * so each use of randomness has its own stream and adding one does not shift the others.
 */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let h = mixSeed(seed);
  for (const label of labels) {
    const text = String(label);
    for (let i = 0; i < text.length; i++) h = mix32(h ^ text.charCodeAt(i));
    h = mix32(h ^ 0x9e3779b9);
  }
  return h & 0x7fffffff;
}

/** Spreads any number (also negative or fractional seeds) over 32 bits. */
function mixSeed(seed: number): number {
  const lo = Math.trunc(seed) >>> 0;
  const hi = Math.trunc(seed / 4294967296) >>> 0;
  return mix32(lo ^ mix32(hi + 0x85ebca6b));
}

/** The murmur3 finaliser: a fast 32-bit avalanche. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
