import { RuntimeFailure } from "../../common/errors.js";
import type { RowSource } from "../batches.js";
import type { NetworkSpec } from "./network.js";
import { commands, ctl, layoutShared, type SharedLayout } from "./parallel-protocol.js";
import { createNetworkTrainer, type TrainerOptions } from "./trainer.js";
import { discardWorkers, returnWorkers, takeWorkers } from "./worker-pool.js";

/** Local training steps on fbm's kernels, on this thread or on worker threads. */
export interface KernelRunner {
  readonly threads: number;
  /** Gathers the batch's rows and runs one optimizer step (on threads: starts it; the next call waits). */
  step(batch: Int32Array, dropoutSeeds: ArrayLike<number>): void;
  /** Σ of the per-step mean losses since the last call. */
  takeLoss(): number;
  /** Waits for the last step and returns the trained parameters (flat, trainable-weight order). */
  finish(): Promise<Float32Array>;
  /** Releases threads and memory; safe after a failure. */
  close(): void;
}

export interface RunnerInit {
  spec: NetworkSpec;
  options: TrainerOptions;
  source: RowSource;
  params: Float32Array;
  anchor?: Float32Array;
  correction?: Float32Array;
}

/** All steps on the calling thread. */
export function createLocalRunner(init: RunnerInit): KernelRunner {
  const trainer = createNetworkTrainer(init.spec, init.options);
  trainer.params.set(init.params);
  if (init.anchor) trainer.anchor.set(init.anchor);
  if (init.correction) trainer.correction.set(init.correction);
  const labels = init.source.data.y;
  let loss = 0;
  return {
    threads: 1,
    step(batch, dropoutSeeds) {
      init.source.xInto(batch, trainer.x);
      for (let r = 0; r < batch.length; r++) trainer.labels[r] = labels[batch[r]];
      loss += trainer.computeGradients(batch.length, batch.length, 0, dropoutSeeds) / batch.length;
      trainer.applyUpdate();
    },
    takeLoss() {
      const value = loss;
      loss = 0;
      return value;
    },
    finish: async () => Float32Array.from(trainer.params),
    close() {},
  };
}

/**
 * Data-parallel steps on `threads` workers (worker.ts): the batch is cut into equal slices, each thread
 * computes its slice's gradient, and all apply the sum, so the result is the same for a given thread
 * count on every run. This thread only gathers batches, the next while the workers run the current one.
 */
export function createParallelRunner(init: RunnerInit, threads: number): KernelRunner {
  const bytes = layoutShared(undefined, init.spec, init.options, threads).bytes;
  const shared = layoutShared(new SharedArrayBuffer(bytes), init.spec, init.options, threads);
  shared.params.set(init.params);
  if (init.anchor) shared.anchor.set(init.anchor);
  if (init.correction) shared.correction.set(init.correction);
  const { control } = shared;
  const workers = takeWorkers(threads);
  const endings = workers.map((w) => w.next());
  let failure: string | undefined;
  endings.forEach((ending) => void ending.then((m) => (failure ??= m.error)));
  workers.forEach((w, index) => w.worker.postMessage({ index, threads, spec: init.spec, options: init.options, shared: shared.control.buffer }));
  const labels = init.source.data.y;
  let expectedDone = 0;
  let steps = 0;
  let lossSteps = 0;
  let loss = 0;
  let closed = false;

  /** Posts a command to every worker. */
  const post = (command: number) => {
    Atomics.store(control, ctl.command, command);
    expectedDone += threads;
    Atomics.add(control, ctl.generation, 1);
    Atomics.notify(control, ctl.generation);
  };
  /** Blocks until every worker finished the last command (checking for a failed worker every second). */
  const wait = () => {
    for (;;) {
      const done = Atomics.load(control, ctl.done);
      if (done >= expectedDone) break;
      if (Atomics.load(control, ctl.failed) !== 0 || failure) {
        throw new RuntimeFailure(`A training thread failed${failure ? `: ${failure}` : ""}`);
      }
      Atomics.wait(control, ctl.done, done, 1000);
    }
    // Steps finished since the last wait: their losses are in the workers' slots (only the last one is
    // unread, because step() reads the previous step's losses before starting the next).
    if (lossSteps < steps) {
      loss += collectLoss(shared, threads) / lastRows;
      lossSteps = steps;
    }
  };
  let lastRows = 0;

  return {
    threads,
    step(batch, dropoutSeeds) {
      const slot = steps % 2;
      init.source.xInto(batch, shared.x[slot]);
      shared.seeds[slot].set(dropoutSeeds);
      const y = shared.labels[slot];
      for (let r = 0; r < batch.length; r++) y[r] = labels[batch[r]];
      wait();
      Atomics.store(control, ctl.slot, slot);
      Atomics.store(control, ctl.rows, batch.length);
      lastRows = batch.length;
      post(commands.step);
      steps++;
    },
    takeLoss() {
      wait();
      const value = loss;
      loss = 0;
      return value;
    },
    async finish() {
      wait();
      post(commands.readParams);
      wait();
      return Float32Array.from(shared.params);
    },
    close() {
      if (closed) return;
      closed = true;
      if (failure || Atomics.load(control, ctl.failed) !== 0 || Atomics.load(control, ctl.done) < expectedDone) {
        discardWorkers(workers);
        return;
      }
      post(commands.release);
      void Promise.all(endings).then((messages) => {
        if (messages.every((m) => m.released)) returnWorkers(workers);
        else discardWorkers(workers);
      });
    },
  };
}

function collectLoss(shared: SharedLayout, threads: number): number {
  let sum = 0;
  for (let w = 0; w < threads; w++) sum += shared.loss[w];
  return sum;
}
