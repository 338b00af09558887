import { RuntimeFailure } from "../../common/errors.js";
import { createGaussian, type Gaussian } from "../../privacy/dp/noise.js";
import { ctl } from "./parallel-protocol.js";
import { discardWorkers, returnWorkers, takeWorkers } from "./worker-pool.js";

/**
 * DP-SGD's Gaussian noise on two threads. The noise does not depend on the gradient, so a helper thread
 * draws it ahead: while this thread runs step s's forward pass and per-sample clipping, the helper fills
 * the noise of step s (and then s + 1) in chunks; when this thread reaches the noise it draws the chunks
 * still unclaimed itself, waits for the helper's last one, and adds std·z. Each thread draws from its own
 * node:crypto keystream with the same ziggurat (noise.ts): every value is an independent N(0, 1) draw, as on
 * one thread, so the noise scale and the privacy guarantee are unchanged; which thread drew a value varies
 * with timing, the values are fresh randomness either way. Two slots alternate by step.
 */
export interface NoiseThread {
  /** values[i] = (values[i] + std·z_i)·scale with the current slot's fresh N(0, 1) draws. */
  addTo(values: Float32Array, std: number, scale: number): void;
  /** Stops the helper and returns it to the pool. */
  close(): void;
}

/** Chunks per slot: small enough to balance the two threads, large enough that claiming one is cheap. */
const chunks = 16;

/** Control block (Int32). Index 6 is ctl.failed, which a worker that cannot load sets. */
const at = {
  /** Bumped when a slot is handed back for drawing, or to stop; the helper sleeps on it. */
  generation: 0,
  stop: 1,
  /** The slot this thread consumes next: the helper fills it first. */
  consumeNext: 2,
  claimed: [4, 5],
  failed: ctl.failed,
  done: [8, 9],
} as const;
const controlInts = 12;

/** What the helper thread receives (worker.ts hands it to `drawNoise`). */
export interface NoiseInit {
  noise: { size: number };
  shared: SharedArrayBuffer;
}

function layout(shared: SharedArrayBuffer, size: number) {
  const control = new Int32Array(shared, 0, controlInts);
  const slots = [0, 1].map((s) => new Float32Array(shared, controlInts * 4 + s * size * 4, size));
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

/** `gaussian`: this thread's source (node:crypto, not seeded). */
export function startNoiseThread(size: number, gaussian: Gaussian): NoiseThread {
  const shared = new SharedArrayBuffer(controlInts * 4 + 2 * size * 4);
  const { control, slots, drawChunks } = layout(shared, size);
  const [worker] = takeWorkers(1);
  const ending = worker.next();
  let failure: string | undefined;
  void ending.then((m) => (failure ??= m.error));
  const init: NoiseInit = { noise: { size }, shared };
  worker.worker.postMessage(init);
  let slot = 0;
  let closed = false;
  return {
    addTo(values, std, scale) {
      if (values.length !== size) throw new Error(`noise for ${size} values, got ${values.length}`);
      drawChunks(slot, gaussian);
      for (let spin = 0; Atomics.load(control, at.done[slot]) < chunks; spin++) {
        if (Atomics.load(control, at.failed) !== 0)
          throw new RuntimeFailure(`The noise thread failed${failure ? `: ${failure}` : ""}`);
        const seen = Atomics.load(control, at.done[slot]);
        if (spin > 1000 && seen < chunks) Atomics.wait(control, at.done[slot], seen, 1000);
      }
      const z = slots[slot];
      for (let i = 0; i < size; i++) values[i] = (values[i] + std * z[i]) * scale;
      // Hand the slot back: done first, so no count of the next round lands before the reset.
      Atomics.store(control, at.done[slot], 0);
      Atomics.store(control, at.claimed[slot], 0);
      slot ^= 1;
      Atomics.store(control, at.consumeNext, slot);
      Atomics.add(control, at.generation, 1);
      Atomics.notify(control, at.generation);
    },
    close() {
      if (closed) return;
      closed = true;
      Atomics.store(control, at.stop, 1);
      Atomics.add(control, at.generation, 1);
      Atomics.notify(control, at.generation);
      void ending.then((m) => (m.released ? returnWorkers([worker]) : discardWorkers([worker])));
    },
  };
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
