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
  let shape = sampleShape;
  let total = 0;
  for (const { name, options } of planLayers(plan)) {
    const last = shape[shape.length - 1];
    const bias = (units: number) => (options.useBias === false ? 0 : units);
    switch (name) {
      case "dense": {
        const units = options.units as number;
        total += last * units + bias(units);
        shape = [...shape.slice(0, -1), units];
        break;
      }
      case "conv2d": {
        if (shape.length !== 3) return total;
        const [kh, kw] = pair(options.kernelSize, 1);
        const filters = options.filters as number;
        total += kh * kw * last * filters + bias(filters);
        shape = [...spatial(shape, [kh, kw], pair(options.strides, 1), options.padding), filters];
        break;
      }
      case "maxPooling2d":
      case "averagePooling2d": {
        if (shape.length !== 3) return total;
        const pool = pair(options.poolSize, 2);
        shape = [
          ...spatial(shape, pool, options.strides === undefined ? pool : pair(options.strides, 1), options.padding),
          last,
        ];
        break;
      }
      case "globalAveragePooling2d":
        if (shape.length !== 3) return total;
        shape = [last];
        break;
      case "flatten":
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case "batchNormalization":
        total += 4 * last; // gamma, beta, moving mean, moving variance
        break;
      case "layerNormalization":
        total += 2 * last; // gamma, beta
        break;
      case "dropout":
        break;
    }
    if (shape.some((d) => !(d >= 1))) return total;
  }
  return total;
}

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [value[0] as number, value[1] as number];
  const n = typeof value === "number" ? value : fallback;
  return [n, n];
}

/** Output height and width of a windowed layer (conv or pooling), as tfjs computes them. */
function spatial(shape: number[], window: [number, number], strides: [number, number], padding: unknown): number[] {
  return [0, 1].map((i) =>
    padding === "same" ? Math.ceil(shape[i] / strides[i]) : Math.floor((shape[i] - window[i]) / strides[i]) + 1,
  );
}
