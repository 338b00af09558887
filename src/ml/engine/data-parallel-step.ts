import { bytesToFloats } from "../rows.js";
import type { KernelInstance } from "./kernels.js";
import type { NetworkSpec } from "./network.js";
import { ctl, type SharedLayout, sliceOf } from "./parallel-protocol.js";
import { createSpinBudget, type SpinBudget, waitFor } from "./spin-wait.js";
import { createNetworkTrainer, type ModelMemory, type NetworkTrainer, type TrainerOptions } from "./trainer.js";

/**
 * One participant's part of a data-parallel step (the training thread is participant 0, each worker one
 * more). Every participant's trainer lives in one shared kernels memory with the model itself
 * (trainer.ts `ModelMemory`), so no gradient or parameter is copied between threads: each computes the
 * gradient of its slice of the batch in place; barrier; each sums its share of the parameters' gradients
 * over all participants, in participant order (the same sum whatever the timing), and applies the update
 * to that share (a reduce-scatter whose gather is free: everyone reads the one set of parameters); barrier,
 * before anyone's next forward pass reads the parameters (waited for at the start of the next step, so
 * the training thread gathers the next batch meanwhile).
 */
export function participate(options: {
  trainer: NetworkTrainer;
  shared: SharedLayout;
  index: number;
  threads: number;
  /** Steps this participant finished before (0-based step number). */
  step: number;
  slot: number;
  rows: number;
  waits: ParticipantWaits;
  /** This participant's rows are already in its trainer (the training thread gathers its own there). */
  gathered?: boolean;
  /** Called while waiting at a barrier (about once a second); may throw to give up. */
  check?: () => void;
}): void {
  const { trainer, shared, index, threads, step, slot, rows, waits } = options;
  const [from, to] = sliceOf(rows, index, threads);
  const { inputWidth, labelWidth } = trainer;
  if (options.gathered) {
    // Its rows are in its trainer already.
  } else if (Atomics.load(shared.control, ctl.bytes) === 1)
    bytesToFloats(shared.bytes[slot], from * inputWidth, (to - from) * inputWidth, shared.scale[slot], trainer.x, 0);
  else trainer.x.set(shared.x[slot].subarray(from * inputWidth, to * inputWidth));
  trainer.labels.set(shared.labels[slot].subarray(from * labelWidth, to * labelWidth));
  waitUpdated(shared, threads, step, waits.updated, options.check);
  shared.loss[index] = trainer.computeGradients(to - from, rows, from, shared.seeds[slot]);
  arrive(shared.control, ctl.gradsReady);
  waitAtLeast(shared.control, ctl.gradsReady, (step + 1) * threads, waits.grads, options.check);
  trainer.reduceGrads();
  trainer.applyUpdate();
  arrive(shared.control, ctl.updated);
}

/**
 * Participant `index`'s trainer in `instance` (on the run's shared kernels memory, at the participant's
 * region): rows for its slice of a batch, its gradient and share of the parameters in `model`. Every
 * participant's trainer takes the same number of bytes, so the training thread lays the regions out.
 */
export function createParticipant(init: {
  spec: NetworkSpec;
  options: TrainerOptions;
  threads: number;
  index: number;
  instance: KernelInstance;
  model: ModelMemory;
  /** The run's control block, where batch normalization's and Dice's exchanges meet. */
  control: Int32Array;
  waits: ParticipantWaits;
  check?: () => void;
}): NetworkTrainer {
  const { spec, options, threads, index, control } = init;
  const P = spec.tensorSizes.reduce((a, b) => a + b, 0);
  let met = 0;
  const rowsPerThread = Math.max(1, Math.ceil(options.maxRows / threads));
  return createNetworkTrainer(spec, { ...options, maxRows: rowsPerThread }, init.instance, {
    model: init.model,
    index,
    share: sliceOf(P, index, threads),
    // Every participant meets as often (the same layers, every step), so a count since joining suffices.
    meet: () => {
      met++;
      arrive(control, ctl.statistics);
      waitAtLeast(control, ctl.statistics, met * threads, init.waits.statistics, init.check);
    },
  });
}

/** Waits until every participant applied its share of the first `steps` steps' updates. */
export function waitUpdated(
  shared: SharedLayout,
  threads: number,
  steps: number,
  budget: SpinBudget,
  check?: () => void,
): void {
  waitAtLeast(shared.control, ctl.updated, steps * threads, budget, check);
}

/** A participant's spin budgets (spin-wait.ts), one per place it waits: each learns its own waits. */
export interface ParticipantWaits {
  /** A worker waiting for the training thread's next command. */
  command: SpinBudget;
  updated: SpinBudget;
  grads: SpinBudget;
  statistics: SpinBudget;
}

/** The budgets of a participant of the run whose control block is `control` (its `ownCores` slot sets the regime). */
export function createWaits(control: Int32Array): ParticipantWaits {
  const ownCores = () => Atomics.load(control, ctl.ownCores) === 1;
  return {
    command: createSpinBudget(ownCores),
    updated: createSpinBudget(ownCores),
    grads: createSpinBudget(ownCores),
    statistics: createSpinBudget(ownCores),
  };
}

function arrive(control: Int32Array, slot: number): void {
  Atomics.add(control, slot, 1);
  Atomics.notify(control, slot);
}

/** Waits until control[slot] ≥ target, spinning first while that has been paying (spin-wait.ts). */
export function waitAtLeast(
  control: Int32Array,
  slot: number,
  target: number,
  budget: SpinBudget,
  check?: () => void,
): void {
  waitFor(control, slot, (seen) => seen >= target, budget, check);
}
