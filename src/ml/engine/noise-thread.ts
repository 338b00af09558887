import { RuntimeFailure } from "../../common/errors.js";
import type { Gaussian } from "../../privacy/dp/noise.js";
import { at, chunks, layout, type NoiseInit, sharedBytes } from "./noise-slots.js";
import { discardWorkers, returnWorkers, takeWorkers } from "./worker-pool.js";

/**
 * DP-SGD's Gaussian noise on two threads. The noise does not depend on the gradient, so a helper thread
 * draws it ahead: while this thread runs step s's forward pass and per-sample clipping, the helper fills
 * the noise of step s (and then s + 1) in chunks; when this thread reaches the noise it draws the chunks
 * still unclaimed itself, waits for the helper's last one, and adds std·z. Each thread draws from
 * node:crypto (OpenSSL keeps a DRBG per thread) with its own instance of the same ziggurat (noise.ts):
 * every value is an independent N(0, 1) draw, as on one thread, so the noise scale and the privacy
 * guarantee are unchanged; which thread drew a value varies with timing, the values are fresh randomness
 * either way. Two slots alternate by step.
 */
export interface NoiseThread {
  /** values[i] = (values[i] + std·z_i)·scale with the current slot's fresh N(0, 1) draws. */
  addTo(values: Float32Array, std: number, scale: number): void;
  /** Stops the helper and returns it to the pool. */
  close(): void;
}

/** `gaussian`: this thread's source (node:crypto, not seeded). */
export function startNoiseThread(size: number, gaussian: Gaussian): NoiseThread {
  const shared = new SharedArrayBuffer(sharedBytes(size));
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
