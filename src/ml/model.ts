import * as tf from "@tensorflow/tfjs";
import { errorMessage, InputError } from "../common/errors.js";
import { GroupNormalization, type GroupNormalizationArgs } from "./group-normalization.js";
import { isGraphPlan, isSegmentationLoss, type LayerSpec, type Plan, planLayers } from "./plan.js";
import { checkPlanShapes } from "./plan-size.js";
import { deriveSeed } from "./rng.js";
import { UpSampling3D } from "./up-sampling-3d.js";

export { getParams, paramCount, paramNames, setParams, trainableParamNames } from "./params.js";

/**
 * Builds the tfjs model a plan describes. Initial weights depend only on the seed (each layer's
 * initializer gets its own derived seed), so every node and the researcher start from the same model.
 */
export function buildModel(plan: Plan, sampleShape: number[], options: { seed: number }): tf.LayersModel {
  if (sampleShape.length === 0 || sampleShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new InputError(
      `Cannot build the model: sample shape [${sampleShape.join(", ")}] is not a list of positive sizes`,
    );
  }
  const model = isGraphPlan(plan)
    ? buildGraph(plan, sampleShape, options.seed)
    : buildSequence(plan, sampleShape, options.seed);
  const outputShape = model.outputs[0].shape;
  // Segmentation (dice) keeps per-voxel outputs, e.g. a same-padded conv2d with 1 sigmoid filter.
  if (outputShape.length !== 2 && !isSegmentationLoss(plan.loss)) {
    model.dispose();
    throw new InputError(
      `Cannot build the model: its output has shape [${outputShape.slice(1).join(", ")}] per sample; ` +
        `end with dense layers after a flatten or globalAveragePooling2d layer`,
    );
  }
  return model;
}

/**
 * A graph plan as a tfjs functional model. Layers keep the names a sequence gives them ("<index>.<kind>",
 * plan order), never tfjs's generated ones, so parameter names agree across processes; shapes are checked
 * first so a misfit names the plan's layer.
 */
function buildGraph(plan: Plan, sampleShape: number[], seed: number): tf.LayersModel {
  checkPlanShapes(plan, sampleShape);
  const input = tf.input({ shape: sampleShape, name: "input" });
  const outputs: tf.SymbolicTensor[] = [];
  const layers = planLayers(plan);
  for (const [index, spec] of layers.entries()) {
    const read = spec.inputs.map((i) => (i === -1 ? input : outputs[i]));
    try {
      const layer = createLayer(spec, index, seed);
      outputs.push(layer.apply(read.length === 1 ? read[0] : read) as tf.SymbolicTensor);
    } catch (error) {
      const message = errorMessage(error).split("\n")[0];
      throw new InputError(
        `Cannot build the model: layer "${spec.label}" (${spec.name}) does not fit its inputs: ${message}`,
      );
    }
  }
  return tf.model({ inputs: input, outputs: outputs[outputs.length - 1] });
}

function buildSequence(plan: Plan, sampleShape: number[], seed: number): tf.Sequential {
  const model = tf.sequential();
  // plan-size's reason where it has one (it names the plan's layer), else tfjs's own message.
  const misfit = () => {
    try {
      checkPlanShapes(plan, sampleShape);
    } catch (error) {
      return error as InputError;
    }
  };
  planLayers(plan).forEach((spec, index) => {
    const layer = createLayer(spec, index, seed, index === 0 ? sampleShape : undefined);
    try {
      model.add(layer);
    } catch (error) {
      model.dispose();
      const message = errorMessage(error).split("\n")[0];
      throw (
        misfit() ??
        new InputError(`Cannot build the model: layer ${index} (${spec.name}) does not fit its input: ${message}`)
      );
    }
  });
  // Some misfits tfjs finds only when the model runs (normalizing a volume).
  const late = misfit();
  if (late) {
    model.dispose();
    throw late;
  }
  return model;
}

/** Number of model outputs per sample (classes for softmax, 1 for sigmoid or regression, voxels for segmentation). */
export function outputUnits(model: tf.LayersModel): number {
  return (model.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
}

type Initializer = ReturnType<typeof tf.initializers.zeros>;

/** A seeded kernel initializer by its plan name (tfjs names). */
function kernelInitializer(name: unknown, seed: number): Initializer {
  switch (name ?? "glorotUniform") {
    case "glorotUniform":
      return tf.initializers.glorotUniform({ seed });
    case "glorotNormal":
      return tf.initializers.glorotNormal({ seed });
    case "heUniform":
      return tf.initializers.heUniform({ seed });
    case "heNormal":
      return tf.initializers.heNormal({ seed });
    case "leCunUniform":
      return tf.initializers.leCunUniform({ seed });
    case "leCunNormal":
      return tf.initializers.leCunNormal({ seed });
    case "zeros":
      return tf.initializers.zeros();
    case "ones":
      return tf.initializers.ones();
    default:
      throw new InputError(`Cannot build the model: unknown kernelInitializer "${String(name)}"`);
  }
}

/** One tfjs layer from a plan entry; its name is "<index>.<layer>", e.g. "0.dense". */
function createLayer(spec: LayerSpec, index: number, seed: number, inputShape?: number[]): tf.layers.Layer {
  // Plan options use tfjs names already (checked by the plan schema); casts hand them over as typed args.
  const o = spec.options;
  type Args<F extends (args: never) => unknown> = Parameters<F>[0];
  const base = {
    name: `${index}.${spec.name}`,
    ...(inputShape ? { inputShape } : {}),
    ...(spec.trainable ? {} : { trainable: false }),
  };
  const kernel = () => kernelInitializer(o.kernelInitializer, deriveSeed(seed, index, "kernel"));
  switch (spec.name) {
    case "dense":
      return tf.layers.dense({ ...o, ...base, kernelInitializer: kernel(), biasInitializer: "zeros" } as Args<
        typeof tf.layers.dense
      >);
    case "conv2d":
      return tf.layers.conv2d({ ...o, ...base, kernelInitializer: kernel(), biasInitializer: "zeros" } as Args<
        typeof tf.layers.conv2d
      >);
    case "conv3d":
      return tf.layers.conv3d({ ...o, ...base, kernelInitializer: kernel(), biasInitializer: "zeros" } as Args<
        typeof tf.layers.conv3d
      >);
    case "conv2dTranspose":
      return tf.layers.conv2dTranspose({ ...o, ...base, kernelInitializer: kernel(), biasInitializer: "zeros" } as Args<
        typeof tf.layers.conv2dTranspose
      >);
    case "conv3dTranspose":
      return tf.layers.conv3dTranspose({ ...o, ...base, kernelInitializer: kernel(), biasInitializer: "zeros" } as Args<
        typeof tf.layers.conv3dTranspose
      >);
    case "maxPooling3d":
      return tf.layers.maxPooling3d({ ...o, ...base } as Args<typeof tf.layers.maxPooling3d>);
    case "averagePooling3d":
      return tf.layers.averagePooling3d({ ...o, ...base } as Args<typeof tf.layers.averagePooling3d>);
    case "upSampling2d":
      // tfjs reads `size` as a pair only.
      return tf.layers.upSampling2d({
        ...o,
        ...base,
        ...(typeof o.size === "number" ? { size: [o.size, o.size] } : {}),
      } as Args<typeof tf.layers.upSampling2d>);
    case "upSampling3d":
      return new UpSampling3D({ ...o, ...base } as ConstructorParameters<typeof UpSampling3D>[0]);
    case "concatenate":
      return tf.layers.concatenate({ ...base, axis: -1 });
    case "add":
      return tf.layers.add({ ...base });
    case "dropout":
      return tf.layers.dropout({ ...o, ...base, seed: deriveSeed(seed, index, "dropout") } as Args<
        typeof tf.layers.dropout
      >);
    case "maxPooling2d":
      return tf.layers.maxPooling2d({ ...o, ...base } as Args<typeof tf.layers.maxPooling2d>);
    case "averagePooling2d":
      return tf.layers.averagePooling2d({ ...o, ...base } as Args<typeof tf.layers.averagePooling2d>);
    case "globalAveragePooling2d":
      return tf.layers.globalAveragePooling2d({ ...base });
    case "flatten":
      return tf.layers.flatten({ ...base });
    case "batchNormalization":
      return tf.layers.batchNormalization({ ...o, ...base } as Args<typeof tf.layers.batchNormalization>);
    case "layerNormalization":
      return tf.layers.layerNormalization({ ...o, ...base } as Args<typeof tf.layers.layerNormalization>);
    case "groupNormalization":
      return new GroupNormalization({ ...o, ...base } as GroupNormalizationArgs);
    default:
      throw new InputError(`Cannot build the model: layer "${String(spec.name)}" is not allowed`);
  }
}
