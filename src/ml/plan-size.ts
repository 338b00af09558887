import { type Plan, planLayers } from "./plan.js";
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
 * backward, on inputs of `sampleShape`. Forward: 2 per multiply-add of dense and conv layers (their
 * output elements × fan-in), and one per element that a pooling window, a normalization (×5: mean,
 * variance, scale) or a dropout touches. Backward takes twice the forward (the gradients with respect to
 * both the inputs and the weights, each as large as the forward product; Kaplan et al. 2020, Section 2.1),
 * so one training sample costs 3 × forward. An estimate for a cap, within a small factor: activations
 * and the optimizer's per-parameter update are not counted.
 */
export function planCost(plan: Plan, sampleShape: number[]): { params: number; flops: number } {
  let shape = sampleShape;
  let params = 0;
  let forward = 0;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  for (const { name, options } of planLayers(plan)) {
    const last = shape[shape.length - 1];
    const bias = (units: number) => (options.useBias === false ? 0 : units);
    switch (name) {
      case "dense": {
        const units = options.units as number;
        params += last * units + bias(units);
        shape = [...shape.slice(0, -1), units];
        forward += 2 * last * size(shape);
        break;
      }
      case "conv2d": {
        if (shape.length !== 3) return { params, flops: 3 * forward };
        const [kh, kw] = pair(options.kernelSize, 1);
        const filters = options.filters as number;
        params += kh * kw * last * filters + bias(filters);
        shape = [...spatial(shape, [kh, kw], pair(options.strides, 1), options.padding), filters];
        forward += 2 * kh * kw * last * size(shape);
        break;
      }
      case "maxPooling2d":
      case "averagePooling2d": {
        if (shape.length !== 3) return { params, flops: 3 * forward };
        const pool = pair(options.poolSize, 2);
        shape = [
          ...spatial(shape, pool, options.strides === undefined ? pool : pair(options.strides, 1), options.padding),
          last,
        ];
        forward += pool[0] * pool[1] * size(shape);
        break;
      }
      case "conv3d": {
        if (shape.length !== 4) return { params, flops: 3 * forward };
        const k = triple(options.kernelSize, 1);
        const filters = options.filters as number;
        params += k[0] * k[1] * k[2] * last * filters + bias(filters);
        shape = [...spatial(shape, k, triple(options.strides, 1), options.padding), filters];
        forward += 2 * k[0] * k[1] * k[2] * last * size(shape);
        break;
      }
      case "conv2dTranspose": {
        if (shape.length !== 3) return { params, flops: 3 * forward };
        const k = pair(options.kernelSize, 1);
        const s = pair(options.strides, 1);
        const filters = options.filters as number;
        params += k[0] * k[1] * last * filters + bias(filters);
        forward += 2 * k[0] * k[1] * filters * size(shape);
        const out = (n: number, i: number) => (options.padding === "same" ? n * s[i] : (n - 1) * s[i] + k[i]);
        shape = [out(shape[0], 0), out(shape[1], 1), filters];
        break;
      }
      case "maxPooling3d":
      case "averagePooling3d": {
        if (shape.length !== 4) return { params, flops: 3 * forward };
        const pool = triple(options.poolSize, 2);
        const strides = options.strides === undefined ? pool : triple(options.strides, 1);
        shape = [...spatial(shape, pool, strides, options.padding), last];
        forward += pool[0] * pool[1] * pool[2] * size(shape);
        break;
      }
      case "upSampling2d": {
        if (shape.length !== 3) return { params, flops: 3 * forward };
        const [sh, sw] = pair(options.size, 2);
        shape = [shape[0] * sh, shape[1] * sw, last];
        forward += size(shape);
        break;
      }
      case "globalAveragePooling2d":
        if (shape.length !== 3) return { params, flops: 3 * forward };
        forward += size(shape);
        shape = [last];
        break;
      case "flatten":
        shape = [size(shape)];
        break;
      case "batchNormalization":
        params += 4 * last; // gamma, beta, moving mean, moving variance
        forward += 5 * size(shape);
        break;
      case "layerNormalization":
        params += 2 * last; // gamma, beta
        forward += 5 * size(shape);
        break;
      case "dropout":
        forward += size(shape);
        break;
    }
    if (shape.some((d) => !(d >= 1))) return { params, flops: 3 * forward };
  }
  return { params, flops: 3 * forward };
}

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [value[0] as number, value[1] as number];
  const n = typeof value === "number" ? value : fallback;
  return [n, n];
}

function triple(value: unknown, fallback: number): number[] {
  if (Array.isArray(value)) return [value[0] as number, value[1] as number, value[2] as number];
  const n = typeof value === "number" ? value : fallback;
  return [n, n, n];
}

/** Output sizes of a windowed layer (conv or pooling) along its 2 or 3 spatial axes, as tfjs computes them. */
function spatial(shape: number[], window: number[], strides: number[], padding: unknown): number[] {
  return window.map((_, i) =>
    padding === "same" ? Math.ceil(shape[i] / strides[i]) : Math.floor((shape[i] - window[i]) / strides[i]) + 1,
  );
}
