import { parentPort } from "node:worker_threads";
import { createKernelInstance } from "./kernels.js";
import { commands, ctl, layoutShared, sliceOf, type WorkerInit } from "./parallel-protocol.js";
import { createNetworkTrainer } from "./trainer.js";

/**
 * A training thread: holds its own copy of the network in its own kernels instance. Per step it computes
 * the gradient of its slice of the batch, publishes it, waits for the others', sums all slices in worker
 * order (so every thread computes the very same sum) and applies the same update: the copies never diverge
 * and no parameters cross threads between steps. Joins one run at a time; stays for the next.
 */

/** Waits (spinning briefly first: a step's partners are usually microseconds away) until slot ≥ target. */
function waitAtLeast(control: Int32Array, slot: number, target: number): void {
  for (let spin = 0; spin < 4000; spin++) if (Atomics.load(control, slot) >= target) return;
  for (;;) {
    const seen = Atomics.load(control, slot);
    if (seen >= target) return;
    Atomics.wait(control, slot, seen, 1000);
  }
}

function join(init: WorkerInit): void {
  const shared = layoutShared(init.shared, init.spec, init.options, init.threads);
  const { control } = shared;
  const rowsPerWorker = Math.ceil(init.options.maxRows / init.threads);
  const trainer = createNetworkTrainer(init.spec, { ...init.options, maxRows: Math.max(1, rowsPerWorker) }, createKernelInstance());
  const width = init.spec.inputSize;
  trainer.params.set(shared.params);
  if (init.options.fedproxMu > 0) trainer.anchor.set(shared.anchor);
  if (init.options.correction) trainer.correction.set(shared.correction);
  // A run's control block starts at generation 0; commands may already be waiting when this thread joins.
  let generation = 0;
  let step = 0;
  for (;;) {
    Atomics.wait(control, ctl.generation, generation);
    generation = Atomics.load(control, ctl.generation);
    const command = Atomics.load(control, ctl.command);
    if (command === commands.release) return;
    if (command === commands.readParams) {
      if (init.index === 0) shared.params.set(trainer.params);
    } else if (command === commands.step) {
      const slot = Atomics.load(control, ctl.slot);
      const rows = Atomics.load(control, ctl.rows);
      const [from, to] = sliceOf(rows, init.index, init.threads);
      trainer.x.set(shared.x[slot].subarray(from * width, to * width));
      trainer.labels.set(shared.labels[slot].subarray(from, to));
      shared.loss[init.index] = trainer.computeGradients(to - from, rows, from, shared.seeds[slot]);
      const mine = shared.grads[step % 2];
      mine[init.index].set(trainer.grads);
      Atomics.add(control, ctl.gradsReady, 1);
      Atomics.notify(control, ctl.gradsReady);
      waitAtLeast(control, ctl.gradsReady, (step + 1) * init.threads);
      trainer.grads.set(mine[0]);
      for (let w = 1; w < init.threads; w++) trainer.addToGrads(mine[w]);
      trainer.applyUpdate();
      step++;
    }
    Atomics.add(control, ctl.done, 1);
    Atomics.notify(control, ctl.done);
  }
}

parentPort?.on("message", (init: WorkerInit) => {
  try {
    join(init);
    parentPort?.postMessage({ released: true });
  } catch (error) {
    const control = new Int32Array(init.shared, 0, 8);
    parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) });
    Atomics.store(control, ctl.failed, 1);
    Atomics.notify(control, ctl.done);
  }
});
