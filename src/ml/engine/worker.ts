import { parentPort } from "node:worker_threads";
import { createParticipant, createWaits, participate } from "./data-parallel-step.js";
import { createKernelInstance } from "./kernels.js";
import { drawNoise, type NoiseInit } from "./noise-slots.js";
import { commands, controlSlots, ctl, layoutShared, type WorkerInit } from "./parallel-protocol.js";
import { waitFor } from "./spin-wait.js";

/**
 * A training thread: a participant of data-parallel steps (data-parallel-step.ts) with its own kernels
 * instance and trainer on the run's shared kernels memory (the model there is everyone's), or DP-SGD's noise source one step ahead (noise-thread.ts). Joins
 * one run at a time (all of its rounds while the node keeps it, engine/kernel-session.ts) and stays for the next.
 */
function join(init: WorkerInit): void {
  const shared = layoutShared(init.shared, init.spec, init.options, init.threads);
  const { control } = shared;
  // Instantiating rewrites the module's static data below heapBase with the very bytes already there
  // (the other threads may be reading them: same values, so nothing they read changes).
  const instance = createKernelInstance({ memory: init.memory, start: init.start }, init.variant);
  const waits = createWaits(control);
  const trainer = createParticipant({ ...init, instance, control, waits });
  if (instance.top() > init.start + init.region)
    throw new Error("a training thread's trainer outgrew the region the training thread laid out");
  // A run's control block starts at generation 0; a step may already be waiting when this thread joins.
  let generation = 0;
  let round = Atomics.load(control, ctl.round);
  for (let step = 0; ; step++) {
    const last = generation;
    // The next command usually follows within microseconds, while the training thread gathers the batch.
    waitFor(control, ctl.generation, (seen) => seen !== last, waits.command, undefined, Number.POSITIVE_INFINITY);
    generation = Atomics.load(control, ctl.generation);
    if (Atomics.load(control, ctl.command) === commands.release) return;
    // A kept run's next round: the main thread wrote its parameters (shared) before this step's command.
    if (Atomics.load(control, ctl.round) !== round) {
      round = Atomics.load(control, ctl.round);
      trainer.reset();
    }
    const slot = Atomics.load(control, ctl.slot);
    const rows = Atomics.load(control, ctl.rows);
    participate({ trainer, shared, index: init.index, threads: init.threads, step, slot, rows, waits });
  }
}

/** Marks the run failed so the training thread stops waiting for this one. */
function fail(shared: SharedArrayBuffer, message: string): void {
  parentPort?.postMessage({ error: message });
  const control = new Int32Array(shared, 0, controlSlots);
  Atomics.store(control, ctl.failed, 1);
  Atomics.notify(control, ctl.gradsReady);
  Atomics.notify(control, ctl.updated);
}

parentPort?.on("message", (init: WorkerInit | NoiseInit) => {
  try {
    if ("noise" in init) drawNoise(init);
    else join(init);
    parentPort?.postMessage({ released: true });
  } catch (error) {
    fail(init.shared, error instanceof Error ? error.message : String(error));
  }
});
