import { type Plan, planLayers } from "./plan.js";
import type { NamedTensor } from "./types.js";

/**
 * Frozen layers (`trainable: false`): their weights stay as the researcher has them. Nodes train with
 * them but do not send them back, and the researcher aggregates the other tensors only, keeping these.
 * Parameter names start with the layer's "<index>.<kind>." (params.ts), so the plan alone tells them.
 */

/** Whether a parameter name belongs to a frozen layer of the plan. */
export function frozenTest(plan: Plan): (name: string) => boolean {
  const prefixes = planLayers(plan).flatMap((layer, index) => (layer.trainable ? [] : [`${index}.${layer.name}.`]));
  return (name) => prefixes.some((prefix) => name.startsWith(prefix));
}

/** Whether any layer of the plan is frozen. */
export function hasFrozenLayers(plan: Plan): boolean {
  return planLayers(plan).some((layer) => !layer.trainable);
}

/** The tensors nodes send back and the aggregator averages: all but the frozen layers'. */
export function trainedTensors<T extends { name: string }>(plan: Plan, tensors: T[]): T[] {
  const frozen = frozenTest(plan);
  return tensors.filter((t) => !frozen(t.name));
}

/** The full model again: `trained` (in `trainedTensors` order) in place, frozen tensors from `global`. */
export function withFrozen(plan: Plan, global: NamedTensor[], trained: Float32Array[]): NamedTensor[] {
  const frozen = frozenTest(plan);
  let next = 0;
  return global.map((t) => (frozen(t.name) ? t : { ...t, data: trained[next++] }));
}
