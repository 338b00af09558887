import type { KernelsVariant } from "./kernels.js";
import { labelWidth, type NetworkSpec } from "./network.js";
import type { ModelMemory, TrainerOptions } from "./trainer.js";

/**
 * The shared memory between the training thread and its workers: one SharedArrayBuffer for the batches,
 * laid out by `layoutShared`, with an Int32 control block driven by Atomics (no messages per step); and
 * one shared kernels memory (WebAssembly) where the model and every participant's trainer live.
 */

/** Control slots (Int32). */
export const ctl = {
  /** Bumped by the main thread for each command; workers wait on it. */
  generation: 0,
  command: 1,
  /** Participants that applied their share of the current step's update (monotonic). */
  updated: 2,
  /** Participants whose gradient for the current step is in its slot (monotonic). */
  gradsReady: 3,
  /** Batch slot (0/1) and row count of the current step. */
  slot: 4,
  rows: 5,
  /** Set to 1 by a worker that failed (its message follows by postMessage); wakes waiters on gradsReady. */
  failed: 6,
  /**
   * Bumped by the main thread when a kept run starts another round (kernel-runner.ts `restart`), once it
   * wrote the round's parameters (anchor, correction): before its next step each worker resets its trainer.
   */
  round: 7,
  /** Batch normalization's and Dice's exchanges inside a step (trainer.ts `Participant.meet`), monotonic. */
  statistics: 8,
  /** 1 when the current step's workers' rows are in `bytes` (times `scale`), 0 when in `x`. */
  bytes: 9,
  /**
   * 1 while the training threads each have a core of their own, 0 while they share the cores with other
   * work: the training thread measures it (spin-wait.ts `createCoreWatch`), every participant's waits read it.
   */
  ownCores: 10,
} as const;
export const controlSlots = 11;

export const commands = { step: 1, release: 3 } as const;

/** What a worker needs to join a run (sent once by postMessage). */
export interface WorkerInit {
  index: number;
  threads: number;
  spec: NetworkSpec;
  options: TrainerOptions;
  shared: SharedArrayBuffer;
  /** The kernels memory every participant's trainer lives in, the model's place in it, and this worker's region. */
  memory: WebAssembly.Memory;
  model: ModelMemory;
  start: number;
  /** Bytes of one trainer's region (checked: the worker's trainer must fit). */
  region: number;
  /** The kernels build the training thread runs: every participant runs the same one. */
  variant: KernelsVariant;
}

export interface SharedLayout {
  control: Int32Array;
  /** Two batch slots each of x and labels (the main thread fills one while workers read the other). */
  x: [Float32Array, Float32Array];
  labels: [Float32Array, Float32Array];
  /**
   * The same slots' rows as bytes, when the source's rows are bytes times a scale (batches.ts `bytes`):
   * the training thread copies the workers' bytes there and each worker converts its own rows.
   */
  bytes: [Uint8Array, Uint8Array];
  scale: Float64Array;
  /** Dropout seeds of the step in each slot. */
  seeds: [Int32Array, Int32Array];
  /** Each participant's Σ loss of its rows, per step. */
  loss: Float64Array;
}

/** Views over `buffer` (or, with no buffer, just the size it must have). */
export function layoutShared(
  buffer: SharedArrayBuffer | undefined,
  spec: NetworkSpec,
  options: Pick<TrainerOptions, "maxRows">,
  threads: number,
): SharedLayout & { size: number } {
  let offset = 0;
  const take = <T>(make: (b: SharedArrayBuffer, at: number, n: number) => T, n: number, width: number): T => {
    offset = Math.ceil(offset / 8) * 8;
    const at = offset;
    offset += n * width;
    return buffer ? make(buffer, at, n) : (undefined as T);
  };
  const f32 = (n: number) => take((b, at, len) => new Float32Array(b, at, len), n, 4);
  const control = take((b, at, n) => new Int32Array(b, at, n), controlSlots, 4);
  const x: [Float32Array, Float32Array] = [
    f32(options.maxRows * spec.inputSize),
    f32(options.maxRows * spec.inputSize),
  ];
  const labels: [Float32Array, Float32Array] = [
    f32(options.maxRows * labelWidth(spec)),
    f32(options.maxRows * labelWidth(spec)),
  ];
  const u8 = (n: number) => take((b, at, len) => new Uint8Array(b, at, len), n, 1);
  const bytes: [Uint8Array, Uint8Array] = [u8(options.maxRows * spec.inputSize), u8(options.maxRows * spec.inputSize)];
  const scale = take((b, at, n) => new Float64Array(b, at, n), 2, 8);
  const dropouts = spec.layers.filter((op) => op.kind === "dropout").length;
  const i32 = (n: number) => take((b, at, len) => new Int32Array(b, at, len), n, 4);
  const seeds: [Int32Array, Int32Array] = [i32(dropouts), i32(dropouts)];
  const loss = take((b, at, n) => new Float64Array(b, at, n), threads, 8);
  return { control, x, labels, bytes, scale, seeds, loss, size: offset };
}

/**
 * Rows [from, to) of a batch of `rows` that worker `index` of `threads` takes (likewise its share of
 * the parameters to sum and update).
 */
export function sliceOf(rows: number, index: number, threads: number): [number, number] {
  return [Math.floor((rows * index) / threads), Math.floor((rows * (index + 1)) / threads)];
}
