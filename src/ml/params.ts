import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import type { NamedTensor } from "./types.js";

/**
 * Model weights as plain named tensors. Names come from the layer's position in the plan and kind plus
 * the weight's own name ("0.dense.kernel", "2.batchNormalization.moving_mean"), never from tfjs's global
 * name counters, so two processes building the same plan agree on them. Plan layers carry that
 * "<index>.<kind>" as their tfjs name (model.ts), which a graph's layer order and input layer leave intact.
 */

const layerKinds: Record<string, string> = {
  Dense: "dense",
  Dropout: "dropout",
  Conv2D: "conv2d",
  MaxPooling2D: "maxPooling2d",
  AveragePooling2D: "averagePooling2d",
  GlobalAveragePooling2D: "globalAveragePooling2d",
  Flatten: "flatten",
  BatchNormalization: "batchNormalization",
  LayerNormalization: "layerNormalization",
  GroupNormalization: "groupNormalization",
  Conv3D: "conv3d",
  Conv2DTranspose: "conv2dTranspose",
  Conv3DTranspose: "conv3dTranspose",
  MaxPooling3D: "maxPooling3d",
  AveragePooling3D: "averagePooling3d",
  UpSampling2D: "upSampling2d",
  UpSampling3D: "upSampling3d",
  Concatenate: "concatenate",
  Add: "add",
};

/** A plan layer's own "<index>.<kind>" name, else its position in `model.layers` and kind. */
function layerPrefix(layer: tf.layers.Layer, index: number): string {
  if (/^\d+\.[A-Za-z0-9]+$/.test(layer.name)) return layer.name;
  return `${index}.${layerKinds[layer.getClassName()] ?? layer.getClassName()}`;
}

interface WeightSlot {
  name: string;
  layer: tf.layers.Layer;
  shape: number[];
}

/** Every weight of the model (trainable and not) in a fixed order, with its stable name. */
function weightSlots(model: tf.LayersModel): WeightSlot[] {
  return model.layers.flatMap((layer, index) => {
    return layer.weights.map((w) => ({
      name: `${layerPrefix(layer, index)}.${w.originalName.split("/").pop()}`,
      layer,
      shape: [...w.shape] as number[],
    }));
  });
}

/** The stable names of the model's trainable weights, in `model.trainableWeights` order. */
export function trainableParamNames(model: tf.LayersModel): string[] {
  return model.layers.flatMap((layer, index) =>
    layer.trainableWeights.map((w) => `${layerPrefix(layer, index)}.${w.originalName.split("/").pop()}`),
  );
}

/** The stable names of the model's weights, in `getParams` order. */
export function paramNames(model: tf.LayersModel): string[] {
  return weightSlots(model).map((slot) => slot.name);
}

/** Copies all weights out of the model (the copies do not alias tfjs memory). */
export function getParams(model: tf.LayersModel): NamedTensor[] {
  const slots = weightSlots(model);
  const values = model.layers.flatMap((layer) => layer.getWeights());
  return slots.map((slot, i) => {
    const tensor = values[i];
    const data = tensor.dtype === "int32" ? Int32Array.from(tensor.dataSync()) : Float32Array.from(tensor.dataSync());
    return { name: slot.name, shape: slot.shape, dtype: tensor.dtype === "int32" ? "int32" : "float32", data };
  });
}

/** Loads named tensors into the model; throws InputError when names, count or shapes differ. */
export function setParams(model: tf.LayersModel, params: NamedTensor[]): void {
  const slots = weightSlots(model);
  checkParams(slots, params);
  const byName = new Map(params.map((p) => [p.name, p]));
  for (const layer of model.layers) {
    const mine = slots.filter((s) => s.layer === layer);
    if (mine.length === 0) continue;
    const tensors = mine.map((s) => {
      const p = byName.get(s.name)!;
      return tf.tensor(p.data, s.shape, p.dtype);
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** The model's weights' names and shapes, in `getParams` order. */
export function weightShapes(model: tf.LayersModel): Pick<NamedTensor, "name" | "shape">[] {
  return weightSlots(model).map(({ name, shape }) => ({ name, shape }));
}

/**
 * Throws InputError unless `params` are exactly the weights named in `weights` (no name twice, none
 * missing or extra), each with its shape: what `setParams` checks, for callers that keep no model.
 */
export function checkParams(weights: Pick<NamedTensor, "name" | "shape">[], params: NamedTensor[]): void {
  const byName = new Map(params.map((p) => [p.name, p]));
  if (byName.size !== params.length) throw new InputError("Cannot set model parameters: a tensor name appears twice");
  const missing = weights.filter((s) => !byName.has(s.name)).map((s) => s.name);
  const extra = params.filter((p) => !weights.some((s) => s.name === p.name)).map((p) => p.name);
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.map((n) => `"${n}"`).join(", ")}` : "",
      extra.length > 0 ? `unexpected ${extra.map((n) => `"${n}"`).join(", ")}` : "",
    ].filter(Boolean);
    throw new InputError(`Cannot set model parameters: they do not match the plan's model (${parts.join("; ")})`);
  }
  for (const slot of weights) {
    const p = byName.get(slot.name)!;
    const size = slot.shape.reduce((a, b) => a * b, 1);
    if (p.shape.length !== slot.shape.length || p.shape.some((d, i) => d !== slot.shape[i]) || p.data.length !== size) {
      throw new InputError(
        `Cannot set model parameters: "${slot.name}" has shape [${p.shape.join(", ")}] ` +
          `(${p.data.length} values), the model expects [${slot.shape.join(", ")}]`,
      );
    }
  }
}

/** Total number of scalar values in a parameter list. */
export function paramCount(params: NamedTensor[]): number {
  return params.reduce((sum, p) => sum + p.data.length, 0);
}
