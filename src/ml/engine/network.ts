import type * as tf from "@tensorflow/tfjs";
import type { Plan } from "../plan.js";

/**
 * A model the fast path can train, as plain data (it crosses to worker threads): the layer shapes and
 * activations read off the built tfjs model, so both paths agree on every size. Layers the kernels do not
 * cover (batch normalization, same-padded average pooling, rarer activations) leave the model on tfjs.
 */
export type LayerOp = DenseOp | Conv2dOp | MaxPoolOp | AvgPoolOp | DropoutOp;

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
  /** Trainable tensor sizes in `model.trainableWeights` order (kernel, then bias, per layer). */
  tensorSizes: number[];
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
/** The kernels' losses; Dice (segmentation) is not among them: such plans train on tfjs. */
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
  const lossCode = lossCodes[loss];
  if (lossCode === undefined) return { unsupported: `the ${loss} loss` };
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  let shape = inputShape;
  const layers: LayerOp[] = [];
  const tensorSizes: number[] = [];
  for (const layer of model.layers) {
    const config = layer.getConfig() as Record<string, unknown>;
    const kind = layer.getClassName();
    const act = activationCodes[String(config.activation ?? "linear")];
    const outShape = (layer.outputShape as number[]).slice(1);
    if ((kind === "Dense" || kind === "Conv2D") && act === undefined) {
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
    } else if (kind === "Dropout") {
      if (config.noiseShape != null) return { unsupported: "dropout with a noise shape" };
      layers.push({ kind: "dropout", size: size(shape), rate: Number(config.rate) });
    } else if (kind !== "Flatten") {
      return { unsupported: `layer ${kind}` };
    }
    shape = outShape;
  }
  if (model.trainableWeights.length !== tensorSizes.length || model.weights.length !== tensorSizes.length) {
    return { unsupported: "weights the kernels do not know" };
  }
  if (layers.every((op) => op.kind !== "dense" && op.kind !== "conv2d"))
    return { unsupported: "a model without weights" };
  const last = layers[layers.length - 1];
  if (last.kind !== "dense" || (last.act === activationCodes.softmax) !== (lossCode === 1)) {
    return { unsupported: "a last layer other than dense (softmax exactly for the categorical losses)" };
  }
  return { inputSize: size(inputShape), layers, loss: lossCode, outputUnits: last.units, tensorSizes };
}

/** Output elements per sample of a layer. */
export function outputSize(op: LayerOp): number {
  if (op.kind === "dense") return op.units;
  if (op.kind === "dropout") return op.size;
  return op.oh * op.ow * (op.kind === "conv2d" ? op.filters : op.c);
}

/** Input elements per sample of a layer. */
export function inputSize(op: LayerOp): number {
  if (op.kind === "dropout") return op.size;
  return op.kind === "dense" ? op.inputs : op.h * op.w * op.c;
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

function pair(value: unknown): number[] {
  if (Array.isArray(value)) return value.length === 1 ? [value[0], value[0]] : [value[0], value[1]];
  return [Number(value), Number(value)];
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
