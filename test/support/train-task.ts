import type { NamedTensor, TrainingArgs } from "../../src/ml/types.js";
import type { TrainTaskBody } from "../../src/wire/index.js";

/**
 * The train task the wire, hub and scheduling tests and the transfer benches send: their nodes train
 * nothing (or a stub), so the task asks for the least and only its parameters' size matters.
 */

/** Args asking for the least: one epoch, no update cap, no test split or metrics, seed 0, no FedProx. */
export function bareTrainArgs(batchSize = 1): TrainingArgs {
  return {
    epochs: 1,
    updates: 0,
    batchSize,
    testRatio: 0,
    testOnGlobal: false,
    testOnLocal: false,
    metrics: [],
    seed: 0,
    fedproxMu: 0,
  };
}

/** A train task of dataset "d" and plan "p" (`{}`) carrying `params`, by default round 1 at batch size 1. */
export function bareTrainTask(
  params: NamedTensor[],
  options: { round?: number; batchSize?: number; datasetId?: string; planId?: string } = {},
): TrainTaskBody {
  return {
    kind: "train",
    datasetId: options.datasetId ?? "d",
    planId: options.planId ?? "p",
    planJson: "{}",
    round: options.round ?? 1,
    args: bareTrainArgs(options.batchSize),
    params,
  };
}

/** One float32 tensor "w" of `data` (a vector unless `shape` is given). */
export function vectorTensor(data: Float32Array, shape: number[] = [data.length]): NamedTensor {
  return { name: "w", shape, dtype: "float32", data };
}
