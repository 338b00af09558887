import { RuntimeFailure } from "../../common/errors.js";
import type { AggregateInput, AggregatorState, Update } from "./types.js";

/** Shared checks and arithmetic of the aggregators. Sums run in float64; results are new arrays. */

/** Throws RuntimeFailure unless there are updates and each is shaped like the global model and finite. */
export function checkUpdates(name: string, input: AggregateInput): void {
  const fail = (why: string) => new RuntimeFailure(`Cannot aggregate round ${input.round} with ${name}: ${why}`);
  const { global, updates } = input;
  if (updates.length === 0) throw fail("no updates");
  for (const u of updates) {
    const who = `node "${u.nodeId}"`;
    if (!Number.isFinite(u.samples) || u.samples < 0) throw fail(`${who} reported ${u.samples} samples`);
    if (u.params.length !== global.length) {
      throw fail(`${who} sent ${u.params.length} tensors, the model has ${global.length}`);
    }
    u.params.forEach((tensor, t) => {
      if (tensor.length !== global[t].length) {
        throw fail(`${who} sent ${tensor.length} values for tensor ${t}, the model has ${global[t].length}`);
      }
      if (!tensor.every(Number.isFinite)) throw fail(`${who} sent a non-finite value in tensor ${t}`);
    });
  }
}

/** Sample weights summing to 1; throws when no update carries a sample. */
export function sampleWeights(name: string, round: number, updates: Update[]): number[] {
  const total = updates.reduce((sum, u) => sum + u.samples, 0);
  if (!(total > 0))
    throw new RuntimeFailure(`Cannot aggregate round ${round} with ${name}: the updates carry no samples`);
  return updates.map((u) => u.samples / total);
}

/** Σ weights[i] · arrays[i], tensor by tensor, in float64. */
export function weightedSum(arrays: Float32Array[][], weights: number[]): Float64Array[] {
  return arrays[0].map((_, t) => {
    const out = new Float64Array(arrays[0][t].length);
    arrays.forEach((tensors, i) => {
      const w = weights[i];
      const src = tensors[t];
      for (let k = 0; k < out.length; k++) out[k] += w * src[k];
    });
    return out;
  });
}

/** The pseudo-gradient Δ = Σ wᵢ xᵢ − x of FedOpt, FedAvgM and SCAFFOLD (points towards the nodes). */
export function pseudoGradient(global: Float32Array[], updates: Update[], weights: number[]): Float64Array[] {
  const mean = weightedSum(
    updates.map((u) => u.params),
    weights,
  );
  mean.forEach((tensor, t) => {
    for (let k = 0; k < tensor.length; k++) tensor[k] -= global[t][k];
  });
  return mean;
}

/** Rounds float64 tensors to new Float32Arrays. */
export function toFloat32(tensors: ArrayLike<number>[]): Float32Array[] {
  return tensors.map((t) => Float32Array.from(t));
}

/** Reads tensors kept in the state as `number[][]`, or zeros shaped like `global` when absent. */
export function readTensors(name: string, state: AggregatorState, key: string, global: Float32Array[]): Float64Array[] {
  const stored = state[key];
  if (stored === undefined) return global.map((t) => new Float64Array(t.length));
  const ok =
    Array.isArray(stored) &&
    stored.length === global.length &&
    stored.every((t, i) => Array.isArray(t) && t.length === global[i].length);
  if (!ok) throw new RuntimeFailure(`Cannot aggregate with ${name}: its saved state "${key}" does not match the model`);
  return (stored as number[][]).map((t) => Float64Array.from(t));
}

/** Tensors as plain JSON arrays for the state. */
export function writeTensors(tensors: ArrayLike<number>[]): number[][] {
  return tensors.map((t) => Array.from(t));
}
