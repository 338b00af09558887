import type * as tf from "@tensorflow/tfjs";
import type { Plan } from "../plan.js";

/**
 * A model the fast path can train, as plain data (it crosses to worker threads): the layer shapes and
 * activations read off the built tfjs model, so both paths agree on every size. Layers the kernels do not
 * cover (same-padded average pooling, rarer activations) leave the model on tfjs.
 */
export type LayerOp =
  | DenseOp
  | Conv2dOp
  | MaxPoolOp
  | AvgPoolOp
  | DropoutOp
  | Conv3dOp
  | MaxPool3dOp
  | AvgPool3dOp
  | ConvTransposeOp
  | UpSampleOp
  | ConcatOp
  | AddOp
  | BatchNormOp
  | LayerNormOp
  | GroupNormOp;

export interface DenseOp {
  kind: "dense";
  inputs: number;
  units: number;
  act: number;
  bias: boolean;
}

/** Shape of a 2-D window over an NHWC input: input, window, strides, top/left padding, output. */
export interface Window {
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
  oh: number;
  ow: number;
}

export interface Conv2dOp extends Window {
  kind: "conv2d";
  filters: number;
  act: number;
  bias: boolean;
}

export interface MaxPoolOp extends Window {
  kind: "maxPool";
}

/** Average pooling over unpadded windows; global average pooling is one window over the whole image. */
export interface AvgPoolOp extends Window {
  kind: "avgPool";
}

/** Shape of a 3-D window over an NDHWC input: the 2-D one plus depth, its window, stride, front pad, output. */
export interface Volume extends Window {
  d: number;
  kd: number;
  sd: number;
  pf: number;
  od: number;
}

export interface Conv3dOp extends Volume {
  kind: "conv3d";
  filters: number;
  act: number;
  bias: boolean;
}

export interface MaxPool3dOp extends Volume {
  kind: "maxPool3d";
}

/** Average pooling over unpadded 3-D windows. */
export interface AvgPool3dOp extends Volume {
  kind: "avgPool3d";
}

/**
 * A transposed convolution (2-D ones have depth 1), described by the convolution it is the adjoint of:
 * that convolution's input (d, h, w, c) is this layer's output (c = its filters), its output (od, oh, ow)
 * this layer's input, with `inputs` channels. tfjs's kernel [kd, kh, kw, filters, inputs] is then the
 * convolution's kernel read with `inputs` output channels.
 */
export interface ConvTransposeOp extends Volume {
  kind: "convTranspose";
  inputs: number;
  act: number;
  bias: boolean;
}

/** Nearest-neighbour upsampling of (d, h, w, c) by (sd, sh, sw); a 2-D image has d = sd = 1. */
export interface UpSampleOp {
  kind: "upSample";
  d: number;
  h: number;
  w: number;
  c: number;
  sd: number;
  sh: number;
  sw: number;
}

/** Channel concatenation of two inputs of `pixels` positions with `ca` and `cb` channels (a graph node). */
export interface ConcatOp {
  kind: "concat";
  pixels: number;
  ca: number;
  cb: number;
}

/** Elementwise sum of two inputs of `size` values per sample (a graph node). */
export interface AddOp {
  kind: "add";
  size: number;
}

/**
 * Batch or layer normalization of channels-last values: `pixels` positions of `c` channels per sample,
 * normalized per channel over the batch's positions (batch: with batch statistics while training, the
 * moving ones in inference) or per position over its channels (layer), then γ·x̂ + β. Batch normalization's
 * moving mean and variance are the model's non-trainable weights (`NetworkSpec.stateSizes`).
 */
export type NormalizeOp = BatchNormOp | LayerNormOp | GroupNormOp;

export interface BatchNormOp extends Normalization {
  kind: "batchNorm";
}

export interface LayerNormOp extends Normalization {
  kind: "layerNorm";
}

/** Group normalization (group-normalization.ts): per sample, over each group of c ÷ groups consecutive channels. */
export interface GroupNormOp extends Normalization {
  kind: "groupNorm";
  groups: number;
}

interface Normalization {
  pixels: number;
  c: number;
  epsilon: number;
  /** Batch normalization: moving ← moving − (moving − batch)·(1 − momentum), as Keras. */
  momentum: number;
  /** γ (a trainable weight) and β (the next one), each of `c` values, when present. */
  scale: boolean;
  center: boolean;
}

/** Inverted dropout over `size` values per sample; its masks come from the run's seeded generator. */
export interface DropoutOp {
  kind: "dropout";
  size: number;
  rate: number;
}

export interface NetworkSpec {
  inputSize: number;
  layers: LayerOp[];
  /** Loss code of the kernels (engine/assembly/loss-optim.ts). */
  loss: number;
  outputUnits: number;
  /** Trainable tensor sizes in `model.trainableWeights` order (kernel, then bias, per layer; γ then β). */
  tensorSizes: number[];
  /**
   * Non-trainable tensor sizes in `model.nonTrainableWeights` order: batch normalization's moving mean,
   * then moving variance, per layer. Absent when there are none.
   */
  stateSizes?: number[];
  /**
   * A graph's wiring: each layer's inputs as indices into `layers` (−1: the batch), in order. Absent for a
   * sequence, where each layer takes the one before it.
   */
  inputs?: number[][];
  /**
   * Frozen layers (`trainable: false`), by index into `layers`: their kernel then bias, fixed. They are
   * not among `tensorSizes` (the optimizer never sees them) and get no weight gradient.
   */
  frozen?: Record<number, Float32Array>;
  /**
   * Binary segmentation: the last layer is a sigmoid convolution, one label per output value, and the loss
   * soft Dice over the whole batch (plus the voxels' mean binary cross-entropy), computed in trainer.ts.
   */
  segmentation?: "dice" | "diceCrossentropy";
}

/** Labels per row: one, or with `segmentation` one per output value (a mask). */
export function labelWidth(spec: NetworkSpec): number {
  return spec.segmentation ? spec.outputUnits : 1;
}

/** Activation codes of engine/assembly/layers.ts. */
export const activationCodes: Record<string, number> = {
  linear: 0,
  relu: 1,
  sigmoid: 2,
  tanh: 3,
  softmax: 4,
  relu6: 5,
  elu: 6,
};
/** The kernels' losses; binary segmentation's (Dice) is computed beside them, in trainer.ts. */
const lossCodes: Partial<Record<Plan["loss"], number>> = {
  binaryCrossentropy: 0,
  categoricalCrossentropy: 1,
  sparseCategoricalCrossentropy: 1,
  meanSquaredError: 2,
  meanAbsoluteError: 3,
  huberLoss: 4,
};

/** The fast path's description of a built model, or the reason it stays on tfjs. */
export function describeNetwork(model: tf.LayersModel, loss: Plan["loss"]): NetworkSpec | { unsupported: string } {
  const segmentation = loss === "dice" || loss === "diceCrossentropy" ? loss : undefined;
  const lossCode = segmentation ? lossCodes.binaryCrossentropy : lossCodes[loss];
  if (lossCode === undefined) return { unsupported: `the ${loss} loss` };
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return { unsupported: "several inputs or outputs" };
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const layers: LayerOp[] = [];
  const tensorSizes: number[] = [];
  const stateSizes: number[] = [];
  // Which op's output each tfjs layer's output is (−1: the batch); flatten only renames its input.
  const produced = new Map<string, number>();
  const inputs: number[][] = [];
  // A sequential model lists no input layer among its layers: name it from the model's input.
  produced.set(model.inputs[0].sourceLayer.name, -1);
  const frozen: Record<number, Float32Array> = {};
  let frozenTensors = 0;
  for (const layer of model.layers) {
    const trainedBefore = tensorSizes.length;
    const config = layer.getConfig() as Record<string, unknown>;
    const kind = layer.getClassName();
    if (kind === "InputLayer") {
      produced.set(layer.name, -1);
      continue;
    }
    // The first node is the layer's place in this model (later ones would be other models' uses).
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    const from = inbound.map((l) => produced.get(l.name));
    if (inbound.length === 0 || from.some((f) => f === undefined)) return { unsupported: "an unordered graph" };
    const inShapes = inbound.map((l) => (l.outputShape as number[]).slice(1));
    const shape = inShapes[0];
    const act = activationCodes[String(config.activation ?? "linear")];
    const outShape = (layer.outputShape as number[]).slice(1);
    if (weighted.has(kind) && act === undefined) {
      return { unsupported: `activation "${String(config.activation)}"` };
    }
    if (kind === "Dense") {
      if (shape.length !== 1) return { unsupported: "a dense layer on a non-flat input" };
      const bias = config.useBias !== false;
      layers.push({ kind: "dense", inputs: shape[0], units: outShape[0], act, bias });
      tensorSizes.push(shape[0] * outShape[0], ...(bias ? [outShape[0]] : []));
    } else if (kind === "Conv2D") {
      if (config.dataFormat !== "channelsLast" || pair(config.dilationRate).some((d) => d !== 1)) {
        return { unsupported: "a dilated or channels-first convolution" };
      }
      if (act === activationCodes.softmax) return { unsupported: "softmax on a convolution" };
      const window = windowOf(shape, pair(config.kernelSize), pair(config.strides), String(config.padding), outShape);
      const filters = outShape[2];
      const bias = config.useBias !== false;
      layers.push({ kind: "conv2d", ...window, filters, act, bias });
      tensorSizes.push(window.kh * window.kw * window.c * filters, ...(bias ? [filters] : []));
    } else if (kind === "MaxPooling2D") {
      if (config.dataFormat !== "channelsLast") return { unsupported: "channels-first pooling" };
      layers.push({
        kind: "maxPool",
        ...windowOf(shape, pair(config.poolSize), pair(config.strides), String(config.padding), outShape),
      });
    } else if (kind === "AveragePooling2D") {
      // tfjs's same-padded average pooling divides by the window's valid count forward but by the full
      // window backward; the kernels would have to copy that, so such layers stay on tfjs.
      if (config.dataFormat !== "channelsLast" || config.padding !== "valid")
        return { unsupported: "same-padded average pooling" };
      layers.push({
        kind: "avgPool",
        ...windowOf(shape, pair(config.poolSize), pair(config.strides), "valid", outShape),
      });
    } else if (kind === "GlobalAveragePooling2D") {
      if (config.dataFormat !== "channelsLast") return { unsupported: "channels-first pooling" };
      const [h, w, c] = shape;
      layers.push({ kind: "avgPool", h, w, c, kh: h, kw: w, sh: 1, sw: 1, pt: 0, pl: 0, oh: 1, ow: 1 });
    } else if (kind === "Conv3D" || kind === "Conv2DTranspose" || kind === "Conv3DTranspose") {
      const dims = kind === "Conv2DTranspose" ? 2 : 3;
      if (config.dataFormat !== "channelsLast" || tuple(config.dilationRate ?? 1, dims).some((d) => d !== 1)) {
        return { unsupported: "a dilated or channels-first convolution" };
      }
      if (act === activationCodes.softmax) return { unsupported: "softmax on a convolution" };
      const bias = config.useBias !== false;
      const k = tuple(config.kernelSize, dims);
      const st = tuple(config.strides, dims);
      const padding = String(config.padding);
      if (kind === "Conv3D") {
        const volume = volumeOf(shape, k, st, padding, outShape);
        const filters = outShape[3];
        layers.push({ kind: "conv3d", ...volume, filters, act, bias });
        tensorSizes.push(volume.kd * volume.kh * volume.kw * volume.c * filters, ...(bias ? [filters] : []));
      } else {
        // The adjoint convolution runs from this layer's output to its input.
        const [from, to] =
          dims === 2
            ? [
                [1, ...outShape],
                [1, ...shape],
              ]
            : [outShape, shape];
        const volume = volumeOf(from, dims === 2 ? [1, ...k] : k, dims === 2 ? [1, ...st] : st, padding, to);
        const inputs = shape[shape.length - 1];
        layers.push({ kind: "convTranspose", ...volume, inputs, act, bias });
        tensorSizes.push(volume.kd * volume.kh * volume.kw * volume.c * inputs, ...(bias ? [volume.c] : []));
      }
    } else if (kind === "MaxPooling3D" || kind === "AveragePooling3D") {
      if (config.dataFormat !== "channelsLast") return { unsupported: "channels-first pooling" };
      // Same-padded average pooling stays on tfjs, as in 2-D.
      if (kind === "AveragePooling3D" && config.padding !== "valid")
        return { unsupported: "same-padded average pooling" };
      const volume = volumeOf(
        shape,
        tuple(config.poolSize, 3),
        tuple(config.strides, 3),
        String(config.padding),
        outShape,
      );
      layers.push({ kind: kind === "MaxPooling3D" ? "maxPool3d" : "avgPool3d", ...volume });
    } else if (kind === "UpSampling2D") {
      if (config.dataFormat !== "channelsLast" || config.interpolation !== "nearest")
        return { unsupported: "bilinear or channels-first upsampling" };
      const [sh, sw] = pair(config.size);
      const [h, w, c] = shape;
      layers.push({ kind: "upSample", d: 1, h, w, c, sd: 1, sh, sw });
    } else if (kind === "UpSampling3D") {
      // fbm's own layer (up-sampling-3d.ts): nearest neighbour, channels last, by (depth, height, width).
      const [sd, sh, sw] = tuple(config.size, 3);
      const [d, h, w, c] = shape;
      layers.push({ kind: "upSample", d, h, w, c, sd, sh, sw });
    } else if (kind === "Dropout") {
      if (config.noiseShape != null) return { unsupported: "dropout with a noise shape" };
      layers.push({ kind: "dropout", size: size(shape), rate: Number(config.rate) });
    } else if (kind === "Concatenate" || kind === "Add") {
      if (inbound.length !== 2) return { unsupported: `${kind.toLowerCase()} of other than two inputs` };
      if (kind === "Add") layers.push({ kind: "add", size: size(outShape) });
      else {
        if (config.axis !== -1 && config.axis !== outShape.length)
          return { unsupported: "concatenation not on channels" };
        const [ca, cb] = inShapes.map((s) => s[s.length - 1]);
        layers.push({ kind: "concat", pixels: size(outShape) / (ca + cb), ca, cb });
      }
    } else if (kind === "BatchNormalization" || kind === "LayerNormalization") {
      const op = normalizeOp(kind, config, shape);
      if ("unsupported" in op) return op;
      layers.push(op);
      tensorSizes.push(...(op.scale ? [op.c] : []), ...(op.center ? [op.c] : []));
      if (op.kind === "batchNorm") stateSizes.push(op.c, op.c);
    } else if (kind === "GroupNormalization") {
      // fbm's own layer (group-normalization.ts): channels last, γ then β when present.
      const c = shape[shape.length - 1];
      const op: GroupNormOp = {
        kind: "groupNorm",
        pixels: size(shape) / c,
        c,
        groups: Number(config.groups),
        epsilon: Number(config.epsilon),
        momentum: 0,
        scale: config.scale !== false,
        center: config.center !== false,
      };
      layers.push(op);
      tensorSizes.push(...(op.scale ? [c] : []), ...(op.center ? [c] : []));
    } else if (kind === "Flatten") {
      produced.set(layer.name, from[0]!);
      continue;
    } else {
      return { unsupported: `layer ${kind}` };
    }
    if (kind !== "Concatenate" && kind !== "Add" && inbound.length !== 1) return { unsupported: `layer ${kind}` };
    if (!layer.trainable && isNormalize(layers[layers.length - 1]))
      return { unsupported: "a frozen normalization layer" };
    if (!layer.trainable && tensorSizes.length > trainedBefore) {
      // A frozen layer's weights travel with the description: every thread's copy holds them as they are.
      frozenTensors += tensorSizes.length - trainedBefore;
      tensorSizes.length = trainedBefore;
      frozen[layers.length - 1] = Float32Array.from(layer.getWeights().flatMap((w) => Array.from(w.dataSync())));
    }
    inputs.push(from as number[]);
    produced.set(layer.name, layers.length - 1);
  }
  const weightSizes = (weights: tf.LayerVariable[]) => weights.map((w) => size(w.shape as number[]));
  // A frozen layer's weights are non-trainable too: beside moving statistics they could not be told apart.
  if (frozenTensors > 0 && stateSizes.length > 0) return { unsupported: "frozen layers beside batch normalization" };
  if (
    weightSizes(model.trainableWeights).join() !== tensorSizes.join() ||
    (frozenTensors === 0 && weightSizes(model.nonTrainableWeights).join() !== stateSizes.join()) ||
    model.weights.length !== tensorSizes.length + stateSizes.length + frozenTensors
  ) {
    return { unsupported: "weights the kernels do not know" };
  }
  if (tensorSizes.length === 0) return { unsupported: "a model without trained weights" };
  const output = model.outputs[0].sourceLayer.name;
  if (produced.get(output) !== layers.length - 1) return { unsupported: "an output that is not the last layer" };
  const last = layers[layers.length - 1];
  if (segmentation) {
    // Multi-class masks end in a per-voxel softmax, which the kernels' convolutions lack.
    if (!hasWeights(last) || last.kind === "dense" || last.act !== activationCodes.sigmoid)
      return { unsupported: "a segmentation output other than a sigmoid convolution" };
  } else if (last.kind !== "dense" || (last.act === activationCodes.softmax) !== (lossCode === 1)) {
    return { unsupported: "a last layer other than dense (softmax exactly for the categorical losses)" };
  }
  const sequence = inputs.every((from, l) => from.length === 1 && from[0] === l - 1);
  return {
    inputSize: size(inputShape),
    layers,
    loss: lossCode,
    outputUnits: outputSize(last),
    tensorSizes,
    ...(stateSizes.length > 0 ? { stateSizes } : {}),
    ...(sequence ? {} : { inputs }),
    ...(frozenTensors > 0 ? { frozen } : {}),
    ...(segmentation ? { segmentation } : {}),
  };
}

/** A normalization layer over the last axis of a channels-last input, or why the kernels cannot run it. */
function normalizeOp(
  kind: "BatchNormalization" | "LayerNormalization",
  config: Record<string, unknown>,
  shape: number[],
): NormalizeOp | { unsupported: string } {
  const axes = Array.isArray(config.axis) ? config.axis : [config.axis];
  if (axes.length !== 1 || (axes[0] !== -1 && axes[0] !== shape.length))
    return { unsupported: "normalization over other than the last axis" };
  const c = shape[shape.length - 1];
  return {
    kind: kind === "BatchNormalization" ? ("batchNorm" as const) : ("layerNorm" as const),
    pixels: size(shape) / c,
    c,
    epsilon: Number(config.epsilon),
    momentum: kind === "BatchNormalization" ? Number(config.momentum) : 0,
    scale: config.scale !== false,
    center: config.center !== false,
  };
}

/** tfjs class names of the layers with a kernel and a bias (their activation must be one of the kernels'). */
const weighted = new Set(["Dense", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose"]);

/** Layers with trainable weights (a kernel, and a bias unless `bias` is false). */
export type WeightedOp = DenseOp | Conv2dOp | Conv3dOp | ConvTransposeOp;

export function hasWeights(op: LayerOp): op is WeightedOp {
  return op.kind === "dense" || op.kind === "conv2d" || op.kind === "conv3d" || op.kind === "convTranspose";
}

export function isNormalize(op: LayerOp): op is NormalizeOp {
  return op.kind === "batchNorm" || op.kind === "layerNorm" || op.kind === "groupNorm";
}

/** Kernel elements of a weighted layer (tfjs's kernel tensor). */
export function kernelSize(op: WeightedOp): number {
  switch (op.kind) {
    case "dense":
      return op.inputs * op.units;
    case "conv2d":
      return op.kh * op.kw * op.c * op.filters;
    case "conv3d":
      return op.kd * op.kh * op.kw * op.c * op.filters;
    case "convTranspose":
      return op.kd * op.kh * op.kw * op.c * op.inputs;
  }
}

/** Output elements per sample of a layer. */
export function outputSize(op: LayerOp): number {
  switch (op.kind) {
    case "dense":
      return op.units;
    case "dropout":
      return op.size;
    case "conv2d":
      return op.oh * op.ow * op.filters;
    case "maxPool":
    case "avgPool":
      return op.oh * op.ow * op.c;
    case "conv3d":
      return op.od * op.oh * op.ow * op.filters;
    case "maxPool3d":
    case "avgPool3d":
      return op.od * op.oh * op.ow * op.c;
    case "convTranspose":
      return op.d * op.h * op.w * op.c;
    case "concat":
      return op.pixels * (op.ca + op.cb);
    case "add":
      return op.size;
    case "batchNorm":
    case "layerNorm":
    case "groupNorm":
      return op.pixels * op.c;
    case "upSample":
      return op.d * op.sd * op.h * op.sh * op.w * op.sw * op.c;
  }
}

/** Input elements per sample of a layer (of its first input, for a graph node). */
export function inputSize(op: LayerOp): number {
  switch (op.kind) {
    case "dense":
      return op.inputs;
    case "dropout":
      return op.size;
    case "conv2d":
    case "maxPool":
    case "avgPool":
      return op.h * op.w * op.c;
    case "convTranspose":
      return op.od * op.oh * op.ow * op.inputs;
    case "concat":
      return op.pixels * op.ca;
    case "add":
      return op.size;
    case "batchNorm":
    case "layerNorm":
    case "groupNorm":
      return op.pixels * op.c;
    default:
      return op.d * op.h * op.w * op.c;
  }
}

function windowOf(input: number[], k: number[], s: number[], padding: string, out: number[]): Window {
  const [h, w, c] = input;
  const [oh, ow] = out;
  // tfjs "same": total padding max((out − 1)·stride + window − in, 0), the smaller half on top/left.
  const pad = (o: number, st: number, kk: number, i: number) =>
    padding === "same" ? Math.floor(Math.max((o - 1) * st + kk - i, 0) / 2) : 0;
  return {
    h,
    w,
    c,
    kh: k[0],
    kw: k[1],
    sh: s[0],
    sw: s[1],
    pt: pad(oh, s[0], k[0], h),
    pl: pad(ow, s[1], k[1], w),
    oh,
    ow,
  };
}

/** A 3-D window over an NDHWC input: input [d, h, w, c], window, strides, padding, output [od, oh, ow, …]. */
function volumeOf(input: number[], k: number[], s: number[], padding: string, out: number[]): Volume {
  const [d, ...rest] = input;
  const [od, ...outRest] = out;
  const flat = windowOf(rest, k.slice(1), s.slice(1), padding, outRest);
  const pf = padding === "same" ? Math.floor(Math.max((od - 1) * s[0] + k[0] - d, 0) / 2) : 0;
  return { ...flat, d, kd: k[0], sd: s[0], pf, od };
}

/** A size option as `dims` numbers (tfjs configs hold a number or a tuple). */
function tuple(value: unknown, dims: number): number[] {
  if (Array.isArray(value)) return value.length === 1 ? Array(dims).fill(value[0]) : value.slice(0, dims);
  return Array(dims).fill(Number(value));
}

function pair(value: unknown): number[] {
  if (Array.isArray(value)) return value.length === 1 ? [value[0], value[0]] : [value[0], value[1]];
  return [Number(value), Number(value)];
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
