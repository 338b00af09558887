import { createGaussian, type Gaussian } from "../../privacy/dp/noise.js";
import { ctl } from "./parallel-protocol.js";

/**
 * The shared slots of DP-SGD's noise on two threads (noise-thread.ts) and the helper thread's side, kept
 * apart from the pool of threads so that the worker's code (worker.ts) does not carry the pool's.
 */

/** Chunks per slot: small enough to balance the two threads, large enough that claiming one is cheap. */
export const chunks = 16;

/** Control block (Int32). Index 6 is ctl.failed, which a worker that cannot load sets. */
export const at = {
  /** Bumped when a slot is handed back for drawing, or to stop; the helper sleeps on it. */
  generation: 0,
  stop: 1,
  /** The slot this thread consumes next: the helper fills it first. */
  consumeNext: 2,
  claimed: [4, 5],
  failed: ctl.failed,
  done: [8, 9],
} as const;
export const controlInts = 12;

/** Bytes of the shared buffer for `size` values: the control block, then two float64 slots. */
export const sharedBytes = (size: number) => controlInts * 4 + 2 * size * 8;

/** What the helper thread receives (worker.ts hands it to `drawNoise`). */
export interface NoiseInit {
  noise: { size: number };
  shared: SharedArrayBuffer;
}

export function layout(shared: SharedArrayBuffer, size: number) {
  const control = new Int32Array(shared, 0, controlInts);
  // float64 draws: the step adds std·z at the draws' full precision, as on one thread (noise.ts on Mironov).
  const slots = [0, 1].map((s) => new Float64Array(shared, controlInts * 4 + s * size * 8, size));
  const bounds = (c: number) => [Math.floor((size * c) / chunks), Math.floor((size * (c + 1)) / chunks)];
  /** Claims and draws chunks of `slot` until none is left; returns how many this caller drew. */
  const drawChunks = (slot: number, gaussian: Gaussian) => {
    let drawn = 0;
    for (;;) {
      const c = Atomics.add(control, at.claimed[slot], 1);
      if (c >= chunks) return drawn;
      const [from, to] = bounds(c);
      const z = slots[slot].subarray(from, to);
      z.fill(0);
      gaussian.addTo(z, 1, 1);
      Atomics.add(control, at.done[slot], 1);
      Atomics.notify(control, at.done[slot]);
      drawn++;
    }
  };
  return { control, slots, drawChunks };
}

/** The helper's side: draws chunks of the slot consumed next, then of the other, until told to stop. */
export function drawNoise(init: NoiseInit): void {
  const { control, drawChunks } = layout(init.shared, init.noise.size);
  const gaussian = createGaussian();
  for (;;) {
    const generation = Atomics.load(control, at.generation);
    if (Atomics.load(control, at.stop) !== 0) return;
    const first = Atomics.load(control, at.consumeNext);
    const drawn = drawChunks(first, gaussian) + drawChunks(first ^ 1, gaussian);
    if (drawn === 0) Atomics.wait(control, at.generation, generation);
  }
}
