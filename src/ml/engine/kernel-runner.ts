import { RuntimeFailure } from "../../common/errors.js";
import type { RowSource } from "../batches.js";
import { createParticipant, createWaits, participate, waitUpdated } from "./data-parallel-step.js";
import { type DpStep, noiseAndAverage } from "./dp-step.js";
import { createKernelInstance } from "./kernels.js";
import type { NetworkSpec } from "./network.js";
import { startNoiseThread } from "./noise-thread.js";
import { commands, ctl, layoutShared, type SharedLayout, sliceOf, type WorkerInit } from "./parallel-protocol.js";
import { createCoreWatch } from "./spin-wait.js";
import { allocateModel, createNetworkTrainer, type TrainerOptions } from "./trainer.js";
import { discardWorkers, returnWorkers, takeWorkers } from "./worker-pool.js";

/** Local training steps on fbm's kernels, on this thread or on worker threads. */
export interface KernelRunner {
  readonly threads: number;
  /** Gathers the batch's rows and runs one optimizer step. */
  step(batch: Int32Array, dropoutSeeds: ArrayLike<number>): void;
  /** Σ of the per-step mean losses since the last call. */
  takeLoss(): number;
  /** Waits for the last step and returns the trained parameters (flat, trainable-weight order). */
  finish(): Promise<Float32Array>;
  /**
   * Starts another round on the same network, options and threads (a node's next round, kept by
   * kernel-session.ts): new parameters, anchor, correction, rows and noise source, optimizer state and
   * loss from zero, so the round trains to the bits of a new runner's. Workers stay joined.
   */
  restart(round: RoundStart): void;
  /** After `finish`: the non-trainable weights (moving statistics), flat in `spec.stateSizes` order. */
  state(): Float32Array;
  /** Releases threads and memory; safe after a failure. */
  close(): void;
}

/** What changes from one round to the next. */
export interface RoundStart {
  source: RowSource;
  params: Float32Array;
  /** Non-trainable weights to start from (batch normalization's moving statistics), if the spec has any. */
  state?: Float32Array;
  anchor?: Float32Array;
  correction?: Float32Array;
  /** DP-SGD (local runner only; a runner made with it takes it every round, one made without never). */
  dp?: DpStep;
  /**
   * DP-SGD: draw the noise one step ahead on a training thread (noise-thread.ts). Ignored for a seeded
   * Gaussian (tests: the draws must come from the caller's source) and without noise.
   */
  noiseThread?: boolean;
}

export interface RunnerInit extends RoundStart {
  spec: NetworkSpec;
  options: TrainerOptions;
}

/**
 * A batch's labels into `into`: one per row, or a segmentation's masks, which go through the source (it
 * moves them with an augmented batch's images).
 */
function gatherLabels(spec: NetworkSpec, source: RowSource, rows: Int32Array, into: Float32Array): void {
  if (spec.segmentation) {
    into.set(source.y(rows));
    return;
  }
  const labels = source.data.y;
  for (let r = 0; r < rows.length; r++) into[r] = labels[rows[r]];
}

/** A restart must keep the layout the runner was made for. */
function checkRestart(init: RunnerInit, round: RoundStart): void {
  const same = (a: unknown, b: unknown) => (a === undefined) === (b === undefined);
  if (!same(init.dp, round.dp) || !same(init.anchor, round.anchor) || !same(init.correction, round.correction))
    throw new Error("restart() changes what the runner was laid out for (dp, FedProx anchor, correction)");
}

/** All steps on the calling thread. */
export function createLocalRunner(init: RunnerInit): KernelRunner {
  const trainer = createNetworkTrainer(init.spec, { ...init.options, clipping: init.dp !== undefined });
  let round: RoundStart = init;
  const load = (next: RoundStart) => {
    round = next;
    trainer.params.set(next.params);
    if (next.state) trainer.state.set(next.state);
    if (next.anchor) trainer.anchor.set(next.anchor);
    if (next.correction) trainer.correction.set(next.correction);
  };
  load(init);
  const gather = (rows: Int32Array) => {
    round.source.xInto(rows, trainer.x);
    gatherLabels(init.spec, round.source, rows, trainer.labels);
  };
  let loss = 0;
  const { dp } = init;
  const noise =
    dp && init.noiseThread && dp.noiseMultiplier * dp.clipNorm > 0 && !dp.gaussian.seeded
      ? startNoiseThread(trainer.grads.length, dp.gaussian)
      : undefined;
  return {
    threads: noise ? 2 : 1,
    step(batch, dropoutSeeds) {
      const { dp } = round;
      if (dp) {
        // Abadi et al. 2016, Algorithm 1: clip each sample, sum, add noise, then average.
        loss += clippedSum(trainer, batch, init.options.maxRows, dp.clipNorm, dropoutSeeds, gather);
        if (noise) noise.addTo(trainer.grads, dp.noiseMultiplier * dp.clipNorm, 1 / dp.expectedBatch);
        else noiseAndAverage(trainer.grads, dp);
      } else {
        gather(batch);
        loss += trainer.computeGradients(batch.length, batch.length, 0, dropoutSeeds) / batch.length;
      }
      trainer.applyUpdate();
    },
    takeLoss() {
      const value = loss;
      loss = 0;
      return value;
    },
    finish: async () => Float32Array.from(trainer.params),
    restart(next) {
      checkRestart(init, next);
      trainer.reset();
      load(next);
      loss = 0;
    },
    state: () => Float32Array.from(trainer.state),
    close() {
      noise?.close();
    },
  };
}

/**
 * Data-parallel steps on `threads` threads: this one (participant 0) and `threads − 1` workers
 * (worker.ts), all on one shared kernels memory: the model (parameters, optimizer state, anchor,
 * correction, each participant's gradient) at its start, then one region per participant for its trainer.
 * This thread gathers each batch into shared memory, wakes the workers, and takes the first slice itself;
 * all meet twice per step (data-parallel-step.ts). The result depends only on the thread count, never on
 * timing.
 */
export function createParallelRunner(init: RunnerInit, threads: number): KernelRunner {
  if (init.dp) throw new Error("DP-SGD runs on one thread (createLocalRunner)");
  const size = layoutShared(undefined, init.spec, init.options, threads).size;
  const shared = layoutShared(new SharedArrayBuffer(size), init.spec, init.options, threads);
  const { control } = shared;
  const instance = createKernelInstance();
  const model = allocateModel(init.spec, init.options, instance, threads);
  const start = instance.top();
  let failure: string | undefined;
  const check = () => {
    if (Atomics.load(control, ctl.failed) !== 0)
      throw new RuntimeFailure(`A training thread failed${failure ? `: ${failure}` : ""}`);
  };
  const waits = createWaits(control);
  // The threads start on the long spin (the default thread count is one per core); the watch moves them off
  // it while other work holds cores (spin-wait.ts). A window starts with a round's first step.
  Atomics.store(control, ctl.ownCores, 1);
  const watch = createCoreWatch(threads, (own) => Atomics.store(control, ctl.ownCores, own ? 1 : 0));
  let watching = false;
  const trainer = createParticipant({ ...init, threads, index: 0, instance, model, control, waits, check });
  // Every participant's trainer takes as many bytes as this one: reserve the workers' regions (the memory
  // grows now, before any worker instantiates on it).
  const region = instance.top() - start;
  const regions = instance.alloc(region * (threads - 1));
  let round: RoundStart = init;
  // The model is everyone's: its parameters, moving statistics, anchor and correction are written once, here.
  const load = (next: RoundStart) => {
    round = next;
    trainer.params.set(next.params);
    if (next.state) trainer.state.set(next.state);
    if (next.anchor) trainer.anchor.set(next.anchor);
    if (next.correction) trainer.correction.set(next.correction);
  };
  load(init);
  const workers = takeWorkers(threads - 1);
  const endings = workers.map((w) => w.next());
  for (const ending of endings) void ending.then((m) => (failure ??= m.error));
  for (const [i, w] of workers.entries()) {
    const join: WorkerInit = {
      index: i + 1,
      threads,
      spec: init.spec,
      options: init.options,
      shared: shared.control.buffer as SharedArrayBuffer,
      memory: instance.memory,
      model,
      start: regions + i * region,
      region,
      variant: instance.variant,
    };
    w.worker.postMessage(join);
  }
  let steps = 0;
  let loss = 0;
  let clean = true;

  const post = (command: number) => {
    Atomics.store(control, ctl.command, command);
    Atomics.add(control, ctl.generation, 1);
    Atomics.notify(control, ctl.generation);
  };

  return {
    threads,
    step(batch, dropoutSeeds) {
      clean = false;
      if (!watching) watch.restart();
      watching = true;
      const slot = steps % 2;
      gatherLabels(init.spec, round.source, batch, shared.labels[slot]);
      shared.seeds[slot].set(dropoutSeeds);
      Atomics.store(control, ctl.slot, slot);
      Atomics.store(control, ctl.rows, batch.length);
      // The workers' rows first, so they start while this thread gathers its own straight into its trainer
      // (its previous step's forward pass is over); a source that gathers whole batches only, in one go.
      // Rows that are plain bytes go over as bytes: each worker converts its own (a 64-row batch of 28×28
      // bytes: ~30 µs of conversion off this thread, which every step waits for; issue 28).
      const own = sliceOf(batch.length, 0, threads)[1];
      const split = round.source.rowwise === true;
      const bytes = split ? round.source.bytes : undefined;
      const width = init.spec.inputSize;
      if (bytes) {
        copyByteRows(bytes.values, batch, own, width, shared.bytes[slot]);
        shared.scale[slot] = bytes.scale;
      } else if (split) round.source.xInto(batch.subarray(own), shared.x[slot].subarray(own * width));
      else round.source.xInto(batch, shared.x[slot]);
      Atomics.store(control, ctl.bytes, bytes ? 1 : 0);
      post(commands.step);
      if (split) round.source.xInto(batch.subarray(0, own), trainer.x);
      participate({
        trainer,
        shared,
        index: 0,
        threads,
        step: steps,
        slot,
        rows: batch.length,
        waits,
        gathered: split,
        check,
      });
      loss += collectLoss(shared, threads) / batch.length;
      steps++;
      watch.step();
      clean = true;
    },
    takeLoss() {
      const value = loss;
      loss = 0;
      return value;
    },
    finish: async () => {
      waitUpdated(shared, threads, steps, waits.updated, check);
      return Float32Array.from(trainer.params);
    },
    restart(next) {
      checkRestart(init, next);
      if (next.dp) throw new Error("DP-SGD runs on one thread (createLocalRunner)");
      check();
      // Nobody may still be updating the parameters this writes.
      waitUpdated(shared, threads, steps, waits.updated, check);
      trainer.reset();
      load(next);
      Atomics.add(control, ctl.round, 1);
      watching = false;
      loss = 0;
    },
    state: () => Float32Array.from(trainer.state),
    close() {
      if (!clean || failure || Atomics.load(control, ctl.failed) !== 0) {
        // A step that did not finish may leave workers waiting at its barrier: end them.
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

/**
 * Σ of the batch's clipped per-sample gradients into `trainer.grads`, and the batch's mean loss. A Poisson
 * batch may be empty (the sum is 0: the step is noise alone) or larger than the buffers (taken in parts of
 * `maxRows` rows, whose clipped sums add up; dropout masks stay per row through the row offset).
 */
function clippedSum(
  trainer: ReturnType<typeof createNetworkTrainer>,
  batch: Int32Array,
  maxRows: number,
  clipNorm: number,
  seeds: ArrayLike<number>,
  gather: (rows: Int32Array) => void,
): number {
  if (batch.length === 0) {
    trainer.grads.fill(0);
    return 0;
  }
  let loss = 0;
  const total = batch.length > maxRows ? new Float32Array(trainer.grads.length) : undefined;
  for (let start = 0; start < batch.length; start += maxRows) {
    const part = batch.subarray(start, start + maxRows);
    gather(part);
    loss += trainer.computeClippedGradients(part.length, clipNorm, start, seeds);
    if (total) for (let i = 0; i < total.length; i++) total[i] += trainer.grads[i];
  }
  if (total) trainer.grads.set(total);
  return loss / batch.length;
}

/** Rows `batch[first…]`'s bytes into `into`, each at its place in the batch (row r at r·width). */
function copyByteRows(values: Uint8Array, batch: Int32Array, first: number, width: number, into: Uint8Array): void {
  for (let r = first; r < batch.length; r++)
    into.set(values.subarray(batch[r] * width, (batch[r] + 1) * width), r * width);
}

function collectLoss(shared: SharedLayout, threads: number): number {
  let sum = 0;
  for (let w = 0; w < threads; w++) sum += shared.loss[w];
  return sum;
}
