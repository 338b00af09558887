import { ctl, type SharedLayout, sliceOf } from "./parallel-protocol.js";
import type { NetworkTrainer } from "./trainer.js";

/**
 * One participant's part of a data-parallel step (the training thread is participant 0, each worker one
 * more): gradient of its slice of the batch, published in the step's slot; one barrier; then every
 * participant sums all slices in participant order — the very same sum everywhere — and applies the same
 * update, so the copies of the network never diverge and no parameters cross threads between steps.
 * Gradient slots alternate by step parity: a participant may start step s + 1 while a slower one still
 * reads step s's slots, but never step s + 2 (that needs everyone past step s + 1's barrier).
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
  /** Called while waiting at the barrier (about once a second); may throw to give up. */
  check?: () => void;
}): void {
  const { trainer, shared, index, threads, step, slot, rows } = options;
  const width = trainer.x.length / Math.max(1, trainer.labels.length);
  const [from, to] = sliceOf(rows, index, threads);
  trainer.x.set(shared.x[slot].subarray(from * width, to * width));
  trainer.labels.set(shared.labels[slot].subarray(from, to));
  shared.loss[index] = trainer.computeGradients(to - from, rows, from, shared.seeds[slot]);
  const slots = shared.grads[step % 2];
  slots[index].set(trainer.grads);
  Atomics.add(shared.control, ctl.gradsReady, 1);
  Atomics.notify(shared.control, ctl.gradsReady);
  waitAtLeast(shared.control, ctl.gradsReady, (step + 1) * threads, options.check);
  // The sum in participant order, slot 0 first. A participant's own gradient is already in its trainer:
  // participant 0 starts from it; with two threads participant 1 adds slot 0 to its own (a + b = b + a
  // exactly in IEEE arithmetic). Each saves one model-sized copy a step.
  if (index === 0) for (let w = 1; w < threads; w++) trainer.addToGrads(slots[w]);
  else if (threads === 2) trainer.addToGrads(slots[0]);
  else {
    trainer.grads.set(slots[0]);
    for (let w = 1; w < threads; w++) trainer.addToGrads(slots[w]);
  }
  trainer.applyUpdate();
}

/** Waits until control[slot] ≥ target, spinning briefly first (partners are usually microseconds away). */
export function waitAtLeast(control: Int32Array, slot: number, target: number, check?: () => void): void {
  for (let spin = 0; spin < 2000; spin++) if (Atomics.load(control, slot) >= target) return;
  for (;;) {
    const seen = Atomics.load(control, slot);
    if (seen >= target) return;
    check?.();
    Atomics.wait(control, slot, seen, 1000);
  }
}
