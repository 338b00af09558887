import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import { createRowSource, splitRows } from "./batches.js";
import { evaluateModel } from "./evaluate.js";
import { checkLabels, computeLoss, labelTensor } from "./losses.js";
import { checkMetricNames, defaultMetrics, taskKind } from "./metrics.js";
import { buildModel, getParams, outputUnits, setParams, trainableParamNames } from "./model.js";
import { createOptimizer } from "./optimizer.js";
import type { Plan } from "./plan.js";
import { createRng, deriveSeed } from "./rng.js";
import type { Dataset, NamedTensor, Normalization, ProgressEvent, TrainingArgs, TrainResult } from "./types.js";

export interface TrainOptions {
  plan: Plan;
  data: Dataset;
  /** Global parameters to start from; absent: the plan's seeded initial weights. */
  params?: NamedTensor[];
  args: TrainingArgs;
  normalization?: Normalization;
  /** Round number: varies batch order and dropout masks between rounds (the test split never varies). */
  round?: number;
  /**
   * SCAFFOLD's drift correction `c − c_i`, by parameter name: added to the gradient of each trainable
   * weight at every step (names without an entry, e.g. batchnorm statistics, are not corrected).
   */
  gradientCorrection?: NamedTensor[];
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * One node's local training: seeded train/test split, optional validation of the received parameters,
 * `epochs` or `updates` mini-batch steps with the plan's loss and optimizer (plus the FedProx term),
 * then validation of the trained parameters. Yields to the event loop between batches.
 */
export async function trainLocal(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { plan, args, signal } = options;
  const kind = taskKind(plan);
  const metrics = args.metrics.length > 0 ? args.metrics : defaultMetrics(kind);
  checkMetricNames(metrics, kind);
  checkArgs(args, options.data.rows);
  const source = createRowSource(options.data, options.normalization);
  const split = splitRows(options.data.rows, args.testRatio, args.seed);
  const model = buildModel(plan, options.data.sampleShape, { seed: args.seed });
  const optimizer = createOptimizer(plan.optimizer);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let anchors: tf.Tensor[] = [];
  let corrections: (tf.Tensor | undefined)[] = [];
  try {
    if (options.params) setParams(model, options.params);
    checkLabels(plan.loss, options.data.y, outputUnits(model));
    const validate = (when: boolean) =>
      when && split.test.length > 0 ? evaluateModel(model, source, { plan, metrics, indices: split.test }) : undefined;
    const globalMetrics = await validate(args.testOnGlobal);
    if (args.fedproxMu > 0) anchors = variables.map((v) => tf.clone(v));
    if (options.gradientCorrection) corrections = correctionTensors(model, options.gradientCorrection);

    const stepsPerEpoch = Math.ceil(split.train.length / args.batchSize);
    const totalSteps = args.updates > 0 ? args.updates : args.epochs * stepsPerEpoch;
    const rng = createRng(deriveSeed(args.seed, "batches", options.round ?? 0));
    const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as { seed?: number }[];
    const order = Int32Array.from(split.train);
    const units = outputUnits(model);
    let position = order.length;
    let epoch = 0;
    let lossSum = 0;
    let lossCount = 0;
    for (let step = 0; step < totalSteps; step++) {
      signal?.throwIfAborted();
      if (position >= order.length) {
        rng.shuffle(order);
        position = 0;
        epoch++;
        // Epoch mode reports the last epoch's mean loss; update mode the mean over all updates.
        if (args.updates <= 0) lossSum = lossCount = 0;
      }
      const batch = order.subarray(position, position + args.batchSize);
      position += batch.length;
      // A fresh dropout seed per step: tfjs reuses a layer's seed, which would repeat one mask forever.
      for (const layer of dropouts) layer.seed = rng.int(0x7fffffff);
      const loss = trainStep(batch);
      lossSum += (await loss.data())[0];
      lossCount++;
      loss.dispose();
      options.onProgress?.({ epoch, step: step + 1, totalSteps, loss: lossSum / lossCount });
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    signal?.throwIfAborted();

    function trainStep(batch: Int32Array): tf.Scalar {
      return tf.tidy(() => {
        const x = source.x(batch);
        const y = labelTensor(plan.loss, source.y(batch), units);
        let dataLoss: tf.Scalar | undefined;
        const { grads } = tf.variableGrads(() => {
          const prediction = model.apply(x, { training: true }) as tf.Tensor;
          dataLoss = tf.keep(computeLoss(plan.loss, y, prediction));
          return anchors.length > 0 ? tf.add(dataLoss, proximalTerm(variables, anchors, args.fedproxMu)) : dataLoss;
        }, variables);
        corrections.forEach((c, i) => {
          if (c) grads[variables[i].name] = tf.add(grads[variables[i].name], c);
        });
        optimizer.step(variables, grads);
        return dataLoss!;
      });
    }

    const localMetrics = await validate(args.testOnLocal);
    return {
      params: getParams(model),
      sampleCount: split.train.length,
      trainLoss: lossCount > 0 ? lossSum / lossCount : Number.NaN,
      ...(globalMetrics ? { globalMetrics } : {}),
      ...(localMetrics ? { localMetrics } : {}),
      seconds: (performance.now() - started) / 1000,
      steps: totalSteps,
    };
  } finally {
    tf.dispose(anchors);
    tf.dispose(corrections.filter((c): c is tf.Tensor => c !== undefined));
    optimizer.dispose();
    model.dispose();
  }
}

/** The correction tensors aligned with the model's trainable variables (undefined: no correction). */
function correctionTensors(model: tf.LayersModel, correction: NamedTensor[]): (tf.Tensor | undefined)[] {
  const byName = new Map(correction.map((t) => [t.name, t]));
  return trainableParamNames(model).map((name, i) => {
    const t = byName.get(name);
    if (!t) return undefined;
    const shape = model.trainableWeights[i].shape as number[];
    if (t.shape.join(",") !== shape.join(",")) {
      throw new InputError(`Cannot train: correction "${name}" has shape [${t.shape}], the weight has [${shape}]`);
    }
    return tf.tensor(t.data, shape, "float32");
  });
}

/** FedProx: mu/2 · ||w − w_global||² over the trainable weights. */
function proximalTerm(variables: tf.Variable[], anchors: tf.Tensor[], mu: number): tf.Scalar {
  const squares = variables.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]))));
  return tf.mul(mu / 2, tf.addN(squares)) as tf.Scalar;
}

function checkArgs(args: TrainingArgs, rows: number): void {
  const fail = (what: string) => {
    throw new InputError(`Cannot train: ${what}`);
  };
  if (rows < 1) fail("the dataset has no rows");
  if (!Number.isInteger(args.batchSize) || args.batchSize < 1)
    fail(`batch size ${args.batchSize} is not a positive integer`);
  if (!Number.isInteger(args.epochs) || args.epochs < 0) fail(`epochs ${args.epochs} is not a non-negative integer`);
  if (!Number.isInteger(args.updates) || args.updates < 0)
    fail(`updates ${args.updates} is not a non-negative integer`);
  // epochs 0 and updates 0: validation only (the researcher's final evaluation of the global model).
  if (!(args.fedproxMu >= 0)) fail(`FedProx mu ${args.fedproxMu} is negative`);
}
