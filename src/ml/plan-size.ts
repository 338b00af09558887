import { InputError } from "../common/errors.js";
import { type LayerSpec, type Plan, planLayers } from "./plan.js";
import { type DatasetShape, planInput } from "./plan-input.js";

/**
 * How big a plan's model is, computed from layer shapes alone: nothing is allocated, so a node can
 * refuse an oversized plan before TensorFlow.js builds it. Follows tfjs's shape rules (channels last).
 */

/** The largest model (parameters) a node trains and a researcher builds unless configured otherwise. */
export const DEFAULT_MAX_PARAMS = 10_000_000;

/** The per-sample input of a plan on a catalogued dataset (planInput), or undefined where it cannot be told. */
export function sampleShapeOf(plan: Plan, dataset: DatasetShape): number[] | undefined {
  try {
    return planInput(plan, dataset).sampleShape;
  } catch {
    return undefined; // the task then fails on the dataset, with its own message, before any model is built
  }
}

/**
 * Number of parameters (weights and batch-norm statistics) of the plan's model on inputs of
 * `sampleShape`. Where a layer does not fit its input, the count stops there: tfjs would fail at
 * that layer, having allocated only the layers before it.
 */
export function countPlanParams(plan: Plan, sampleShape: number[]): number {
  return planCost(plan, sampleShape).params;
}

/**
 * A plan's parameters and an estimate of the floating-point operations one sample costs, forward and
 * backward, on inputs of `sampleShape`. Forward: 2 per multiply-add of dense and (transposed) conv layers
 * (their output elements × fan-in; a transposed convolution's input elements × fan-out), and one per
 * element that a pooling window, an upsampling, a join, a normalization (×5: mean, variance, scale) or a
 * dropout touches. Backward takes twice the forward (the gradients with respect to both the inputs and
 * the weights, each as large as the forward product; Kaplan et al. 2020, Section 2.1), so one training
 * sample costs 3 × forward. An estimate for a cap, within a small factor: activations and the optimizer's
 * per-parameter update are not counted. Graph plans count every layer once, whatever reads it.
 */
export function planCost(plan: Plan, sampleShape: number[]): { params: number; flops: number } {
  const walk = walkPlan(plan, sampleShape);
  return { params: walk.params, flops: 3 * walk.forward };
}

/**
 * Throws an InputError naming the first layer that does not fit its inputs on samples of `sampleShape`
 * (a join of unequal shapes, a 3D layer on images, a window larger than its input).
 */
export function checkPlanShapes(plan: Plan, sampleShape: number[]): void {
  const { misfit } = walkPlan(plan, sampleShape);
  if (misfit) throw new InputError(`Cannot build the model: ${misfit}`);
}

/** Each layer's output shape per sample (undefined from the first layer that does not fit on). */
export function planShapes(plan: Plan, sampleShape: number[]): (number[] | undefined)[] {
  return walkPlan(plan, sampleShape).shapes;
}

interface Walk {
  params: number;
  forward: number;
  shapes: (number[] | undefined)[];
  /** Where the walk stopped: tfjs would fail at that layer, having allocated only the layers before it. */
  misfit?: string;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const dims = (s: number[]) => `[${s.join(", ")}]`;

function walkPlan(plan: Plan, sampleShape: number[]): Walk {
  const walk: Walk = { params: 0, forward: 0, shapes: [] };
  for (const layer of planLayers(plan)) {
    const inputs = layer.inputs.map((i) => (i === -1 ? sampleShape : walk.shapes[i]));
    const fits = inputs.every((s): s is number[] => s !== undefined);
    const result = fits ? layerCost(layer, inputs) : "reads a layer that does not fit";
    if (typeof result === "string") {
      walk.misfit = `layer "${layer.label}" (${layer.name}) ${result}`;
      return walk;
    }
    if (result.shape.some((d) => !(d >= 1))) {
      walk.misfit = `layer "${layer.label}" (${layer.name}) leaves an empty output ${dims(result.shape)} on input ${dims(inputs[0] as number[])}`;
      return walk;
    }
    walk.params += result.params;
    walk.forward += result.forward;
    walk.shapes.push(result.shape);
  }
  return walk;
}

/** One layer's output shape, parameters and forward FLOPs, or why it does not fit its inputs. */
function layerCost(
  layer: LayerSpec,
  inputs: number[][],
): { shape: number[]; params: number; forward: number } | string {
  const { name, options } = layer;
  const shape = inputs[0];
  const last = shape[shape.length - 1];
  const bias = (units: number) => (options.useBias === false ? 0 : units);
  const rank = (n: number, what: string) =>
    shape.length === n ? undefined : `needs ${what} inputs, gets ${dims(shape)} per sample`;
  const image = "[height, width, channels]";
  const volume = "[depth, height, width, channels]";
  switch (name) {
    case "dense": {
      const units = options.units as number;
      const out = [...shape.slice(0, -1), units];
      return { shape: out, params: last * units + bias(units), forward: 2 * last * size(out) };
    }
    case "conv2d":
    case "conv3d": {
      const n = name === "conv2d" ? 2 : 3;
      const wrong = rank(n + 1, n === 2 ? image : volume);
      if (wrong) return wrong;
      const k = tuple(options.kernelSize, n, 1);
      const filters = options.filters as number;
      const out = [...spatial(shape, k, tuple(options.strides, n, 1), options.padding), filters];
      return { shape: out, params: size(k) * last * filters + bias(filters), forward: 2 * size(k) * last * size(out) };
    }
    case "conv2dTranspose":
    case "conv3dTranspose": {
      const n = name === "conv2dTranspose" ? 2 : 3;
      const wrong = rank(n + 1, n === 2 ? image : volume);
      if (wrong) return wrong;
      const k = tuple(options.kernelSize, n, 1);
      const strides = tuple(options.strides, n, 1);
      const filters = options.filters as number;
      // tfjs's deconvLength: each input position spreads a kernel-sized window `strides` apart.
      const out = [
        ...k.map((kd, i) =>
          options.padding === "same" ? shape[i] * strides[i] : shape[i] * strides[i] + Math.max(kd - strides[i], 0),
        ),
        filters,
      ];
      return {
        shape: out,
        params: size(k) * last * filters + bias(filters),
        forward: 2 * size(k) * filters * size(shape),
      };
    }
    case "maxPooling2d":
    case "averagePooling2d":
    case "maxPooling3d":
    case "averagePooling3d": {
      const n = name.endsWith("2d") ? 2 : 3;
      const wrong = rank(n + 1, n === 2 ? image : volume);
      if (wrong) return wrong;
      const pool = tuple(options.poolSize, n, 2);
      const strides = options.strides === undefined ? pool : tuple(options.strides, n, 1);
      const out = [...spatial(shape, pool, strides, options.padding), last];
      return { shape: out, params: 0, forward: size(pool) * size(out) };
    }
    case "upSampling2d":
    case "upSampling3d": {
      const n = name === "upSampling2d" ? 2 : 3;
      const wrong = rank(n + 1, n === 2 ? image : volume);
      if (wrong) return wrong;
      const factor = tuple(options.size, n, 2);
      const out = [...factor.map((f, i) => shape[i] * f), last];
      return { shape: out, params: 0, forward: size(out) };
    }
    case "globalAveragePooling2d": {
      const wrong = rank(3, image);
      if (wrong) return wrong;
      return { shape: [last], params: 0, forward: size(shape) };
    }
    case "flatten":
      return { shape: [size(shape)], params: 0, forward: 0 };
    case "batchNormalization":
    case "layerNormalization":
      // Both end in tf.batchNorm, which takes batches of rank 4 at most: not volumes (yet).
      if (shape.length > 3) return `normalizes samples of up to 3 axes in tfjs, not volumes like ${dims(shape)}`;
      // gamma, beta and (batch) the moving mean and variance
      return { shape, params: (name === "batchNormalization" ? 4 : 2) * last, forward: 5 * size(shape) };
    case "groupNormalization": {
      // Keras's default of 32 groups; each group holds channels ÷ groups consecutive channels.
      const groups = (options.groups as number | undefined) ?? 32;
      if (last % groups !== 0)
        return `has groups: ${groups}, which does not divide its ${last} channels (input ${dims(shape)}): choose a divisor of ${last}`;
      const affine = (options.scale === false ? 0 : 1) + (options.center === false ? 0 : 1);
      return { shape, params: affine * last, forward: 5 * size(shape) };
    }
    case "dropout":
      return { shape, params: 0, forward: size(shape) };
    case "concatenate": {
      const unequal = inputs.find((s) => s.length !== shape.length || s.slice(0, -1).some((d, i) => d !== shape[i]));
      if (unequal)
        return `joins ${inputs.map(dims).join(" and ")}: concatenated inputs differ only in their last (channels) size`;
      const out = [...shape.slice(0, -1), inputs.reduce((sum, s) => sum + s[s.length - 1], 0)];
      return { shape: out, params: 0, forward: size(out) };
    }
    case "add": {
      const unequal = inputs.find((s) => s.length !== shape.length || s.some((d, i) => d !== shape[i]));
      if (unequal) return `adds ${inputs.map(dims).join(" and ")}: added inputs have equal shapes`;
      return { shape, params: 0, forward: size(shape) * (inputs.length - 1) };
    }
  }
}

/** A size option as n numbers: a single number stands for every axis. */
function tuple(value: unknown, n: number, fallback: number): number[] {
  if (Array.isArray(value)) return value.slice(0, n) as number[];
  return Array.from({ length: n }, () => (typeof value === "number" ? value : fallback));
}

/** Output sizes of a windowed layer (conv or pooling) along its spatial axes, as tfjs computes them. */
function spatial(shape: number[], window: number[], strides: number[], padding: unknown): number[] {
  return window.map((w, i) =>
    padding === "same" ? Math.ceil(shape[i] / strides[i]) : Math.floor((shape[i] - w) / strides[i]) + 1,
  );
}
