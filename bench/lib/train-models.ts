/**
 * The models of bench/train.ts (logistic regression, MLP 784-128-10, small CNN, the same with batch
 * normalization, small 3-D CNN, small 2-D U-Net) as fbm plans, the
 * seeded synthetic data they train on, and the arithmetic of one training step computed from the layer
 * shapes. bench/torch/train_bench.py builds the same models and data recipes in PyTorch.
 */
import { type LayerSpec, type Plan, parsePlan, planLayers } from "../../src/ml/plan.js";
import { createRng } from "../../src/ml/rng.js";
import type { Dataset, TrainingArgs } from "../../src/ml/types.js";

export type ModelName = "logreg" | "mlp" | "cnn" | "cnnbn" | "cnn3d" | "unet";

export interface BenchModel {
  name: ModelName;
  /** Input and layers, one line. */
  layers: string;
  /** Loss, optimizer, batch, one line. */
  training: string;
  plan: Plan;
  sampleShape: number[];
  batchSize: number;
  /**
   * Steps of the first calibration run, from which bench/train.ts sizes the timed runs. About 1 s with the
   * tfjs-wasm engine this benchmark was written against (0.6, 13 and 70 ms a step).
   */
  firstSteps: number;
}

/** Rows of every synthetic dataset: a multiple of every batch size, so every batch is full. */
export const benchRows = 4096;
export const benchSeed = 1;

/** `steps` updates of `model`'s batch, no validation, no metrics: a timed run's training arguments. */
export function stepArgs(model: BenchModel, steps: number): TrainingArgs {
  return {
    epochs: 0,
    updates: steps,
    batchSize: model.batchSize,
    testRatio: 0,
    testOnGlobal: false,
    testOnLocal: false,
    metrics: [],
    seed: benchSeed,
    fedproxMu: 0,
  };
}

const sgd = (learning_rate: number) => ({ name: "sgd" as const, learning_rate });

/** The small CNN's layers (cnn); with `batchNorm`, a batch normalization after each convolution (cnnbn). */
function smallCnn(batchNorm: boolean): Record<string, unknown>[] {
  const norm = batchNorm ? [{ batchNormalization: {} }] : [];
  return [
    { conv2d: { filters: 16, kernelSize: 3, padding: "valid", activation: "relu" } },
    ...norm,
    { maxPooling2d: { poolSize: 2 } },
    { conv2d: { filters: 32, kernelSize: 3, padding: "valid", activation: "relu" } },
    ...norm,
    { maxPooling2d: { poolSize: 2 } },
    { flatten: {} },
    { dense: { units: 10, activation: "softmax" } },
  ];
}

export const benchModels: BenchModel[] = [
  {
    name: "logreg",
    layers: "30 features: dense 1 sigmoid",
    training: "binaryCrossentropy, sgd lr 0.05, batch 32",
    plan: parsePlan({
      data: {},
      model: [{ dense: { units: 1, activation: "sigmoid" } }],
      loss: "binaryCrossentropy",
      optimizer: sgd(0.05),
    }),
    sampleShape: [30],
    batchSize: 32,
    firstSteps: 1000,
  },
  {
    name: "mlp",
    layers: "784 features: dense 128 relu, dense 10 softmax",
    training: "sparseCategoricalCrossentropy, sgd lr 0.05, batch 64",
    plan: parsePlan({
      data: {},
      model: [{ dense: { units: 128, activation: "relu" } }, { dense: { units: 10, activation: "softmax" } }],
      loss: "sparseCategoricalCrossentropy",
      optimizer: sgd(0.05),
    }),
    sampleShape: [784],
    batchSize: 64,
    firstSteps: 80,
  },
  {
    name: "cnn",
    layers: "28×28×1: conv 16 3×3 relu, maxpool 2, conv 32 3×3 relu, maxpool 2, flatten, dense 10 softmax",
    training: "sparseCategoricalCrossentropy, adam lr 1e-3, batch 32",
    plan: parsePlan({
      data: {},
      model: smallCnn(false),
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 1e-3 },
    }),
    sampleShape: [28, 28, 1],
    batchSize: 32,
    firstSteps: 15,
  },
  {
    name: "cnnbn",
    layers:
      "28×28×1: conv 16 3×3 relu, batchnorm, maxpool 2, conv 32 3×3 relu, batchnorm, maxpool 2, flatten, dense 10 softmax",
    training: "sparseCategoricalCrossentropy, adam lr 1e-3, batch 32",
    plan: parsePlan({
      data: {},
      model: smallCnn(true),
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 1e-3 },
    }),
    sampleShape: [28, 28, 1],
    batchSize: 32,
    firstSteps: 15,
  },
  {
    name: "cnn3d",
    layers: "16×16×16×1: conv3d 8 3³ relu, maxpool3d 2, conv3d 16 3³ relu, maxpool3d 2, flatten, dense 10 softmax",
    training: "sparseCategoricalCrossentropy, adam lr 1e-3, batch 16",
    plan: parsePlan({
      data: {},
      model: [
        { conv3d: { filters: 8, kernelSize: 3, padding: "valid", activation: "relu" } },
        { maxPooling3d: { poolSize: 2 } },
        { conv3d: { filters: 16, kernelSize: 3, padding: "valid", activation: "relu" } },
        { maxPooling3d: { poolSize: 2 } },
        { flatten: {} },
        { dense: { units: 10, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 1e-3 },
    }),
    sampleShape: [16, 16, 16, 1],
    batchSize: 16,
    firstSteps: 5,
  },
  {
    name: "unet",
    layers:
      "32×32×1 U-Net: conv 8, pool, conv 16, pool, conv 32, up, cat, conv 16, up, cat, conv 8 (3×3 same relu), conv 1 1×1 sigmoid",
    training: "diceCrossentropy (binary mask), adam lr 1e-3, batch 16",
    plan: parsePlan({
      data: {},
      model: [
        { conv2d: { filters: 8, kernelSize: 3, padding: "same", activation: "relu" }, name: "enc1" },
        { maxPooling2d: { poolSize: 2 } },
        { conv2d: { filters: 16, kernelSize: 3, padding: "same", activation: "relu" }, name: "enc2" },
        { maxPooling2d: { poolSize: 2 } },
        { conv2d: { filters: 32, kernelSize: 3, padding: "same", activation: "relu" } },
        { upSampling2d: { size: 2 }, name: "up2" },
        { concatenate: {}, inputs: ["up2", "enc2"] },
        { conv2d: { filters: 16, kernelSize: 3, padding: "same", activation: "relu" } },
        { upSampling2d: { size: 2 }, name: "up1" },
        { concatenate: {}, inputs: ["up1", "enc1"] },
        { conv2d: { filters: 8, kernelSize: 3, padding: "same", activation: "relu" } },
        { conv2d: { filters: 1, kernelSize: 1, activation: "sigmoid" } },
      ],
      loss: "diceCrossentropy",
      optimizer: { name: "adam", learning_rate: 1e-3 },
    }),
    sampleShape: [32, 32, 1],
    batchSize: 16,
    firstSteps: 10,
  },
];

/**
 * The model's synthetic dataset, made in code from a seed (same recipe as train_bench.py):
 * logreg: features uniform in [-1, 1], label 1 when Σ (c+1)·x_c > 0;
 * mlp/cnn/cnnbn: 28×28 noise in [0, 0.5) plus 0.5 on image rows 2k+4..2k+6 for class k = row % 10
 * (flattened to 784 features for the mlp); cnn3d: 16³ noise in [0, 0.5) plus 0.5 on slices k+2..k+4;
 * unet: 32×32 noise in [0, 0.5) plus 0.5 on a disc (centre uniform in [8, 24)², radius in [3, 8)), the
 * disc's mask as the label.
 */
export function benchData(model: BenchModel, rows = benchRows, seed = benchSeed): Dataset {
  const rng = createRng(seed);
  const width = model.sampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(rows * width);
  const y = new Float32Array(rows);
  if (model.name === "logreg") {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < width; c++) {
        const v = rng.next() * 2 - 1;
        x[r * width + c] = v;
        s += v * (c + 1);
      }
      y[r] = s > 0 ? 1 : 0;
    }
    return { x, y, rows, sampleShape: model.sampleShape, features: Array.from({ length: width }, (_, i) => `f${i}`) };
  }
  if (model.name === "unet") {
    const n = 32;
    const mask = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const [cy, cx, radius] = [8 + rng.next() * 16, 8 + rng.next() * 16, 3 + rng.next() * 5];
      for (let i = 0; i < width; i++) {
        const inside = (Math.floor(i / n) - cy) ** 2 + ((i % n) - cx) ** 2 < radius * radius ? 1 : 0;
        mask[r * width + i] = inside;
        x[r * width + i] = rng.next() * 0.5 + 0.5 * inside;
      }
    }
    return { x, y: mask, rows, sampleShape: model.sampleShape, yShape: model.sampleShape };
  }
  if (model.name === "cnn3d") {
    const slice = 16 * 16;
    for (let r = 0; r < rows; r++) {
      const k = r % 10;
      y[r] = k;
      for (let i = 0; i < width; i++) {
        const depth = Math.floor(i / slice);
        x[r * width + i] = rng.next() * 0.5 + (depth >= k + 2 && depth <= k + 4 ? 0.5 : 0);
      }
    }
    return { x, y, rows, sampleShape: model.sampleShape, classes: Array.from({ length: 10 }, (_, i) => `c${i}`) };
  }
  for (let r = 0; r < rows; r++) {
    const k = r % 10;
    y[r] = k;
    for (let i = 0; i < 28; i++) {
      const band = i >= 2 * k + 4 && i <= 2 * k + 6 ? 0.5 : 0;
      for (let j = 0; j < 28; j++) x[r * width + i * 28 + j] = rng.next() * 0.5 + band;
    }
  }
  const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
  return model.name === "mlp"
    ? { x, y, rows, sampleShape: model.sampleShape, features: Array.from({ length: width }, (_, i) => `p${i}`) }
    : { x, y, rows, sampleShape: model.sampleShape, classes };
}

// ---------------------------------------------------------------------------------------------------
// Arithmetic per training step. Convention: a multiply-add is 2 FLOPs; forward + backward; the backward
// pass computes the weight gradients of every weighted layer and the input gradient of every layer that
// has a weighted layer before it (the input batch needs no gradient). Bias adds, activations, pooling,
// flatten, the loss and the optimizer update are element-wise and counted as 0.

/** Multiply-adds per sample of one layer: forward, weight gradient, input gradient (if it were needed). */
export interface LayerMacs {
  layer: string;
  outShape: number[];
  weighted: boolean;
  forward: number;
  weightGrad: number;
  inputGrad: number;
}

type Shape = number[];
const product = (s: Shape) => s.reduce((a, b) => a * b, 1);
const pair = (v: unknown, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];
const triple = (v: unknown, fallback: number): number[] =>
  v === undefined
    ? [fallback, fallback, fallback]
    : Array.isArray(v)
      ? [v[0], v[1], v[2]]
      : [v as number, v as number, v as number];
/** Output size of a sliding window along one axis (tfjs/Keras rules). */
const windowOut = (size: number, k: number, stride: number, padding: unknown) =>
  padding === "same" ? Math.ceil(size / stride) : Math.floor((size - k) / stride) + 1;

/** Dense on the last axis: in·units multiply-adds per position, the same again for each gradient. */
function denseMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const units = o.units as number;
  const macs = product(input) * units;
  return { outShape: [...input.slice(0, -1), units], weighted: true, forward: macs, weightGrad: macs, inputGrad: macs };
}

/** conv2d (NHWC): each output value is kh·kw·cin multiply-adds (edges of "same" padding counted as full). */
function conv2dMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const [h, w, c] = input;
  const [kh, kw] = pair(o.kernelSize, 1);
  const [sh, sw] = pair(o.strides, 1);
  const filters = o.filters as number;
  const out = [windowOut(h, kh, sh, o.padding), windowOut(w, kw, sw, o.padding), filters];
  const macs = product(out) * kh * kw * c;
  return { outShape: out, weighted: true, forward: macs, weightGrad: macs, inputGrad: macs };
}

/** conv3d (NDHWC): each output value is kd·kh·kw·cin multiply-adds. */
function conv3dMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const k = triple(o.kernelSize, 1);
  const s = triple(o.strides, 1);
  const filters = o.filters as number;
  const out = [0, 1, 2].map((i) => windowOut(input[i], k[i], s[i], o.padding));
  const macs = product(out) * filters * product(k) * input[3];
  return { outShape: [...out, filters], weighted: true, forward: macs, weightGrad: macs, inputGrad: macs };
}

/** conv2dTranspose: each input value meets kh·kw·filters multiply-adds (the adjoint of a convolution). */
function conv2dTransposeMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const [h, w, c] = input;
  const k = pair(o.kernelSize, 1);
  const s = pair(o.strides, 1);
  const filters = o.filters as number;
  const size = (n: number, i: number) => (o.padding === "same" ? n * s[i] : (n - 1) * s[i] + k[i]);
  const macs = h * w * c * k[0] * k[1] * filters;
  return {
    outShape: [size(h, 0), size(w, 1), filters],
    weighted: true,
    forward: macs,
    weightGrad: macs,
    inputGrad: macs,
  };
}

/** 3-D pooling: comparisons/adds only, ~0. */
function pool3dMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const p = triple(o.poolSize, 2);
  const s = o.strides === undefined ? p : triple(o.strides, 1);
  const out = [0, 1, 2].map((i) => windowOut(input[i], p[i], s[i], o.padding));
  return { outShape: [...out, input[3]], weighted: false, forward: 0, weightGrad: 0, inputGrad: 0 };
}

/** Pooling: comparisons/adds only, ~0. */
function poolMacs(input: Shape, o: Record<string, unknown>): Omit<LayerMacs, "layer"> {
  const [ph, pw] = pair(o.poolSize, 2);
  const [sh, sw] = pair(o.strides ?? o.poolSize, 2);
  const out = [windowOut(input[0], ph, sh, o.padding), windowOut(input[1], pw, sw, o.padding), input[2]];
  return { outShape: out, weighted: false, forward: 0, weightGrad: 0, inputGrad: 0 };
}

function layerMacs(spec: LayerSpec, input: Shape): LayerMacs {
  const free = (outShape: Shape, weighted = false) => ({ outShape, weighted, forward: 0, weightGrad: 0, inputGrad: 0 });
  const cost = (() => {
    switch (spec.name) {
      case "dense":
        return denseMacs(input, spec.options);
      case "conv2d":
        return conv2dMacs(input, spec.options);
      case "maxPooling2d":
      case "averagePooling2d":
        return poolMacs(input, spec.options);
      case "conv3d":
        return conv3dMacs(input, spec.options);
      case "conv2dTranspose":
        return conv2dTransposeMacs(input, spec.options);
      case "maxPooling3d":
      case "averagePooling3d":
        return pool3dMacs(input, spec.options);
      case "upSampling2d": {
        const [sh, sw] = pair(spec.options.size, 2);
        return free([input[0] * sh, input[1] * sw, input[2]]);
      }
      case "globalAveragePooling2d":
        return free([input[input.length - 1]]);
      case "flatten":
        return free([product(input)]);
      case "dropout":
        return free(input);
      case "batchNormalization":
      case "layerNormalization":
        return free(input, true);
      default:
        throw new Error(`the bench counts no multiply-adds for ${spec.name} layers`);
    }
  })();
  return { layer: spec.name, ...cost };
}

/** Per-layer multiply-adds of a plan for one sample of the given shape. */
export function planMacs(plan: Plan, sampleShape: number[]): LayerMacs[] {
  // A graph layer reads its `inputs` (−1: the sample); a concatenation's output joins their channels.
  const outputs: LayerMacs[] = [];
  for (const spec of planLayers(plan)) {
    const shapes = spec.inputs.map((i) => (i < 0 ? sampleShape : outputs[i].outShape));
    if (spec.name === "concatenate") {
      const channels = shapes.reduce((n, s) => n + s[s.length - 1], 0);
      const outShape = [...shapes[0].slice(0, -1), channels];
      outputs.push({ layer: spec.name, outShape, weighted: false, forward: 0, weightGrad: 0, inputGrad: 0 });
    } else if (spec.name === "add") {
      outputs.push({ layer: spec.name, outShape: shapes[0], weighted: false, forward: 0, weightGrad: 0, inputGrad: 0 });
    } else outputs.push(layerMacs(spec, shapes[0]));
  }
  return outputs;
}

/** FLOPs of one training step (forward + backward) for a batch, by the convention above. */
export function stepFlops(
  plan: Plan,
  sampleShape: number[],
  batchSize: number,
): { forward: number; backward: number; total: number } {
  let forward = 0;
  let backward = 0;
  let weightedBefore = false;
  for (const m of planMacs(plan, sampleShape)) {
    forward += m.forward;
    backward += m.weightGrad + (weightedBefore ? m.inputGrad : 0);
    weightedBefore ||= m.weighted;
  }
  const flops = (macs: number) => 2 * macs * batchSize;
  return { forward: flops(forward), backward: flops(backward), total: flops(forward + backward) };
}

/** A FLOP count as value and SI prefix (print "${value} ${prefix}FLOP"): 3840 → ["3.84", "k"], 121e6 → ["121", "M"]. */
export function flopParts(flops: number): [string, string] {
  const [scale, prefix] = flops >= 1e9 ? [1e9, "G"] : flops >= 1e6 ? [1e6, "M"] : flops >= 1e3 ? [1e3, "k"] : [1, ""];
  const v = flops / scale;
  return [v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2), prefix];
}
