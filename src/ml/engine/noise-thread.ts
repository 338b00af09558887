import { RuntimeFailure } from "../../common/errors.js";
import { createGaussian } from "../../privacy/dp/noise.js";
import { ctl } from "./parallel-protocol.js";
import { discardWorkers, returnWorkers, takeWorkers } from "./worker-pool.js";

/**
 * DP-SGD's Gaussian noise drawn one step ahead on a training thread. The noise does not depend on the
 * gradient, so while this thread runs step s's forward pass and per-sample clipping, the helper draws step
 * s + 1's N(0, 1) values (from its own node:crypto keystream, noise.ts) into one of two shared slots; the
 * step then only adds std·z and divides. The draws are the same ziggurat's from the same kind of source
 * as on one thread, so the noise scale and the guarantee do not change; only where they are drawn does.
 */
export interface NoiseThread {
  /** values[i] = (values[i] + std·z_i)·scale with the next slot's fresh draws (waits for them if needed). */
  addTo(values: Float32Array, std: number, scale: number): void;
  /** Stops the helper and returns it to the pool. */
  close(): void;
}

/** Slot states in the control block (Int32 at index 0 and 1). */
const empty = 0;
const full = 1;
const stopped = 2;
const controlBytes = 8 * 4;

/** What the helper thread receives (worker.ts hands it to `drawNoise`). */
export interface NoiseInit {
  noise: { size: number };
  shared: SharedArrayBuffer;
}

function layout(shared: SharedArrayBuffer, size: number) {
  return {
    control: new Int32Array(shared, 0, 8),
    slots: [0, 1].map((s) => new Float32Array(shared, controlBytes + s * size * 4, size)),
  };
}

export function startNoiseThread(size: number): NoiseThread {
  const shared = new SharedArrayBuffer(controlBytes + 2 * size * 4);
  const { control, slots } = layout(shared, size);
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
      for (;;) {
        const state = Atomics.load(control, slot);
        if (state === full) break;
        if (Atomics.load(control, ctl.failed) !== 0 || state === stopped)
          throw new RuntimeFailure(`The noise thread failed${failure ? `: ${failure}` : ""}`);
        Atomics.wait(control, slot, state, 1000);
      }
      const z = slots[slot];
      for (let i = 0; i < size; i++) values[i] = (values[i] + std * z[i]) * scale;
      Atomics.store(control, slot, empty);
      Atomics.notify(control, slot);
      slot ^= 1;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const s of [0, 1]) {
        Atomics.store(control, s, stopped);
        Atomics.notify(control, s);
      }
      void ending.then((m) => (m.released ? returnWorkers([worker]) : discardWorkers([worker])));
    },
  };
}

/** The helper's side: fills each empty slot with N(0, 1) draws until told to stop. */
export function drawNoise(init: NoiseInit): void {
  const { control, slots } = layout(init.shared, init.noise.size);
  const gaussian = createGaussian();
  for (let slot = 0; ; slot ^= 1) {
    let state = Atomics.load(control, slot);
    while (state === full) {
      Atomics.wait(control, slot, full);
      state = Atomics.load(control, slot);
    }
    if (state === stopped) return;
    const z = slots[slot];
    z.fill(0);
    gaussian.addTo(z, 1, 1);
    if (Atomics.compareExchange(control, slot, empty, full) !== empty) return;
    Atomics.notify(control, slot);
  }
}
