import path from "node:path";
import { InputError } from "../../common/errors.js";
import { loadModel } from "../../ml/export.js";
import { weightsDigest } from "../../ml/init-digest.js";
import { buildModel, getParams, setParams } from "../../ml/model.js";
import type { NamedTensor } from "../../ml/types.js";
import type { Experiment } from "./config.js";

/**
 * `plan.init: {model: PATH}`: reads the exported model (a model directory or a run folder, relative to
 * the experiment file's folder), keeps its weights for round 1 and puts their digest in the plan in
 * place of the path, so the plan id that nodes approve covers the weights they start from.
 */
export async function resolvePlanInit(config: Experiment, experimentFile: string): Promise<Experiment> {
  const init = config.plan.init;
  if (!init || !("model" in init)) return config;
  const where = path.resolve(path.dirname(experimentFile), init.model);
  const loaded = await loadModel(where);
  let params: NamedTensor[];
  try {
    params = getParams(loaded.model);
  } finally {
    loaded.model.dispose();
  }
  return {
    ...config,
    plan: { ...config.plan, init: { sha256: weightsDigest(params) } },
    initialWeights: { path: init.model, params },
  };
}

/**
 * Round 0's weights: the plan's model built with the experiment's seed, then the initial model's weights
 * loaded in (checked name by name and shape by shape against the plan).
 */
export function initialParams(config: Experiment, sampleShape: number[]): NamedTensor[] {
  const init = config.plan.init;
  if (init && !config.initialWeights)
    throw new InputError(
      "plan.init: the initial model is read when the experiment file is loaded (loadExperiment), not from a parsed text",
    );
  const model = buildModel(config.plan, sampleShape, { seed: config.training.seed });
  try {
    if (config.initialWeights) {
      try {
        setParams(model, config.initialWeights.params);
      } catch (error) {
        const why =
          error instanceof Error ? error.message.replace(/^Cannot set model parameters: /, "") : String(error);
        throw new InputError(`plan.init.model "${config.initialWeights.path}" does not fit the plan's model: ${why}`);
      }
      const digest = weightsDigest(getParams(model));
      if (init && "sha256" in init && digest !== init.sha256)
        throw new InputError(`plan.init.model "${config.initialWeights.path}" changed since the experiment was loaded`);
    }
    return getParams(model);
  } finally {
    model.dispose();
  }
}
