import * as tf from "@tensorflow/tfjs";
import { allRows, createRowSource, type RowSource } from "./batches.js";
import { checkLabelShape, computeLoss, labelTensor } from "./losses.js";
import { countMetrics } from "./metric-counts.js";
import { checkMetricNames, computeMetrics, taskKind } from "./metrics.js";
import { buildModel, outputUnits, setParams } from "./model.js";
import type { Plan } from "./plan.js";
import type { Dataset, MetricValues, NamedTensor, Normalization } from "./types.js";

/** Validation and inference: metrics of parameters on rows, and predictions of a model. */

const predictBatch = 256;

/** Model outputs for the given rows, `indices.length × outputs` values, computed in batches. */
export async function predictRows(
  model: tf.LayersModel,
  source: RowSource,
  indices: Int32Array,
): Promise<Float32Array> {
  const width = outputUnits(model);
  const out = new Float32Array(indices.length * width);
  for (let start = 0; start < indices.length; start += predictBatch) {
    const rows = indices.subarray(start, start + predictBatch);
    const result = tf.tidy(() => model.predict(source.x(rows)) as tf.Tensor);
    out.set(await result.data(), start * width);
    result.dispose();
  }
  return out;
}

/**
 * Metrics of a model on rows of a source: the names of `metrics.ts` plus "loss" (the plan's loss).
 * Used for the test split during training and for an exported model on a local file.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  source: RowSource,
  options: { plan: Pick<Plan, "loss">; metrics: string[]; indices?: Int32Array },
): Promise<MetricValues> {
  return evaluatePredictions((rows) => predictRows(model, source, rows), outputUnits(model), source, options);
}

/**
 * Metrics of any predictor (`rows × units` outputs for the given rows: a tfjs model, or the kernels'
 * forward pass during training) on rows of a source.
 */
export async function evaluatePredictions(
  predict: (indices: Int32Array) => Promise<Float32Array> | Float32Array,
  units: number,
  source: RowSource,
  options: { plan: Pick<Plan, "loss">; metrics: string[]; indices?: Int32Array },
): Promise<MetricValues> {
  const kind = taskKind(options.plan);
  checkMetricNames(options.metrics, kind);
  const indices = options.indices ?? allRows(source.data.rows);
  if (indices.length === 0) return { values: {}, samples: 0 };
  const yPred = await predict(indices);
  const yTrue = source.y(indices);
  const values = computeMetrics(
    options.metrics.filter((m) => m !== "loss"),
    yTrue,
    yPred,
    kind,
  );
  if (options.metrics.includes("loss")) {
    const loss = tf.tidy(() =>
      computeLoss(
        options.plan.loss,
        labelTensor(options.plan.loss, yTrue, units),
        tf.tensor2d(yPred, [indices.length, units]),
      ),
    );
    values.loss = (await loss.data())[0];
    loss.dispose();
  }
  return { values, samples: indices.length, counts: countMetrics(yTrue, yPred, kind, indices.length) };
}

export interface ParamsOptions {
  plan: Plan;
  data: Dataset;
  params: NamedTensor[];
  normalization?: Normalization;
}

/** Metrics of the given parameters on every row of `data`. */
export async function evaluateParams(options: ParamsOptions & { metrics: string[] }): Promise<MetricValues> {
  return withModel(options, (model, source) =>
    evaluateModel(model, source, { plan: options.plan, metrics: options.metrics }),
  );
}

/** Predictions of parameters for every row: probabilities (classification) or values, `rows × outputs`. */
export interface Predictions {
  rows: number;
  outputs: number;
  values: Float32Array;
}

export async function predict(options: ParamsOptions): Promise<Predictions> {
  return withModel(options, async (model, source) => ({
    rows: options.data.rows,
    outputs: outputUnits(model),
    values: await predictRows(model, source, allRows(options.data.rows)),
  }));
}

/** Predictions of an already built or loaded model (e.g. from `loadModel`) for every row. */
export async function predictWithModel(
  model: tf.LayersModel,
  data: Dataset,
  normalization?: Normalization,
): Promise<Predictions> {
  const source = createRowSource(data, normalization);
  return { rows: data.rows, outputs: outputUnits(model), values: await predictRows(model, source, allRows(data.rows)) };
}

/** Metrics of an already built or loaded model (e.g. from `loadModel`) on every row of `data`. */
export async function evaluateWithModel(
  model: tf.LayersModel,
  data: Dataset,
  options: { plan: Pick<Plan, "loss">; metrics: string[]; normalization?: Normalization },
): Promise<MetricValues> {
  return evaluateModel(model, createRowSource(data, options.normalization), {
    plan: options.plan,
    metrics: options.metrics,
  });
}

async function withModel<T>(
  options: ParamsOptions,
  use: (model: tf.LayersModel, source: RowSource) => Promise<T>,
): Promise<T> {
  checkLabelShape(options.plan.loss, options.data);
  const source = createRowSource(options.data, options.normalization);
  const model = buildModel(options.plan, options.data.sampleShape, { seed: 0 });
  try {
    setParams(model, options.params);
    return await use(model, source);
  } finally {
    model.dispose();
  }
}
