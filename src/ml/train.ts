import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import { createGaussian, type Gaussian } from "../privacy/dp/noise.js";
import { createPoissonSampler, poissonBatchBound } from "../privacy/dp/poisson-sampling.js";
import { createAugmenter } from "./augment.js";
import { createVolumeAugmenter, sliceRows } from "./augment-volume.js";
import { currentBackend } from "./backend.js";
import { createRowSource } from "./batches.js";
import { dpPlanProblem } from "./dp-plan-check.js";
import { chooseEngine } from "./engine/choose-engine.js";
import { kernelPredictor } from "./engine/kernels-predictor.js";
import { createKernelStepper } from "./engine/kernels-stepper.js";
import type { Stepper } from "./engine/stepper.js";
import { createTfjsStepper } from "./engine/tfjs-stepper.js";
import type { WarmRounds } from "./engine/warm-rounds.js";
import { evaluateModel, evaluatePredictions } from "./evaluate.js";
import { splitSamples } from "./group-split.js";
import { checkLabelShape, checkLabels } from "./losses.js";
import { checkMetricNames, defaultMetrics, taskKind } from "./metrics.js";
import { buildModel, getParams, outputUnits, setParams, trainableParamNames } from "./model.js";
import type { Plan } from "./plan.js";
import { createRng, deriveSeed } from "./rng.js";
import { createPhaseClock } from "./round-phases.js";
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
  /** Most threads training may use (default: every core; tiny models use one). */
  threads?: number;
  /** DP-SGD's noise source (default: node:crypto; tests pass a seeded one). */
  gaussian?: Gaussian;
  /** DP-SGD's batch sampling draws, uniform in (0, 1) (default: node:crypto; tests pass a seeded one). */
  samplingUniform?: () => number;
  /** The test split's seed and least rows when the node fixes them (default: the task's seed, 1 row). */
  testSplit?: { seed: number; minRows: number };
  /** Keeps the built network for the experiment's next round (engine/warm-rounds.ts). */
  warm?: { rounds: WarmRounds; experiment: string };
}

/** What `trainLocal` returns: the loss is always there; the node decides whether it leaves (executors/train.ts). */
export type LocalTrainResult = TrainResult & { trainLoss: number };

/** How often the loss is read for progress reports, and how often training yields to the event loop (ms). */
const progressInterval = 250;
const yieldInterval = 20;

/**
 * One node's local training: seeded train/test split, optional validation of the received parameters,
 * `epochs` or `updates` mini-batch steps with the plan's loss and optimizer (plus the FedProx term),
 * then validation of the trained parameters. Steps run on fbm's kernels when they cover the model
 * (engine/choose-engine.ts), else on tfjs; training yields to the event loop every few milliseconds.
 */
export async function trainLocal(options: TrainOptions): Promise<LocalTrainResult> {
  const started = performance.now();
  const clock = createPhaseClock();
  const { plan, args, signal } = options;
  const kind = taskKind(plan);
  const metrics = args.metrics.length > 0 ? args.metrics : defaultMetrics(kind);
  checkMetricNames(metrics, kind);
  checkArgs(args, options.data.rows);
  checkLabelShape(plan.loss, options.data);
  const source = createRowSource(options.data, options.normalization);
  // Training batches only: validation reads `source`, never augmented.
  const augment = plan.data.augment;
  const augment3d = plan.data.augment3d;
  const draws = { seed: args.seed, round: options.round ?? 0 };
  const augmenter = augment
    ? createAugmenter(augment, options.data.sampleShape, draws)
    : augment3d
      ? createVolumeAugmenter(augment3d, sliceRows(options.data, plan), draws)
      : undefined;
  const trainSource = augmenter ? createRowSource(options.data, options.normalization, augmenter) : source;
  const split = splitSamples(
    options.data,
    args.testRatio,
    options.testSplit?.seed ?? args.seed,
    options.testSplit?.minRows,
  );
  clock.lap("prepare");
  const build = () => buildModel(plan, options.data.sampleShape, { seed: args.seed });
  // The network depends on the plan, the sample shape and the seed alone: a round of the same experiment
  // with the same three reuses it.
  const warmKey = options.warm && JSON.stringify([options.warm.experiment, plan, options.data.sampleShape, args.seed]);
  const { model, initial } = options.warm && warmKey ? options.warm.rounds.take(warmKey, build) : { model: build() };
  let keep = false;
  clock.lap("build");
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let runner: Stepper | undefined;
  let engine = "";
  let lossSum = 0;
  let lossCount = 0;
  try {
    // The executor refuses such plans with a typed reply (dp-plan-check.ts); this catches any other caller
    // and any layer with non-trained state the allow-list may gain.
    if (args.dp && model.nonTrainableWeights.length > 0) {
      const layer = dpPlanProblem(plan)?.message ?? "the model has weights computed from rows, not trained";
      throw new InputError(`Cannot train under dp: ${layer}`);
    }
    // A kept network holds the last round's weights: it starts again from the sent or initial ones.
    const start = options.params ?? initial;
    if (start) setParams(model, start);
    checkLabels(plan.loss, options.data.y, outputUnits(model), plan.data.classes);
    const params = readTrainable(variables);
    const correction = options.gradientCorrection && correctionVector(model, options.gradientCorrection);
    clock.lap("copy");
    // Validation is forward passes only: on the kernels when they cover the model, else tfjs's predict.
    const predictor =
      (args.testOnGlobal || args.testOnLocal) && split.test.length > 0
        ? kernelPredictor({ model, plan, source, batchSize: args.batchSize })
        : undefined;
    const validate = async (when: boolean, weights: Float32Array) => {
      const options = { plan, metrics, indices: split.test };
      const result =
        when && split.test.length > 0
          ? predictor
            ? await evaluatePredictions((rows) => predictor.predict(weights, rows), outputUnits(model), source, options)
            : await evaluateModel(model, source, options)
          : undefined;
      clock.lap("validate");
      return result;
    };
    const globalMetrics = await validate(args.testOnGlobal, params);

    const stepsPerEpoch = Math.ceil(split.train.length / args.batchSize);
    // DP-SGD: secret Poisson batches at q = B / N (poisson-sampling.ts), the noisy sum divided by the
    // expected batch size q·N, as Opacus does, so that the mean is post-processing of the noisy sum.
    const rate = Math.min(1, args.batchSize / split.train.length);
    const sampler =
      args.dp?.mode === "local"
        ? createPoissonSampler({ rows: split.train, rate, uniform: options.samplingUniform })
        : undefined;
    const localDp =
      args.dp?.mode === "local"
        ? {
            noiseMultiplier: args.dp.noiseMultiplier,
            clipNorm: args.dp.clipNorm,
            gaussian: options.gaussian ?? createGaussian(),
            expectedBatch: rate * split.train.length,
          }
        : undefined;
    const totalSteps = args.updates > 0 ? args.updates : args.epochs * stepsPerEpoch;
    const rng = createRng(deriveSeed(args.seed, "batches", options.round ?? 0));
    const choice =
      totalSteps > 0
        ? chooseEngine({
            model,
            plan,
            backend: currentBackend(),
            batchSize: args.batchSize,
            // DP-SGD's steps run on one thread, its noise on a second when allowed (noise-thread.ts); a
            // seeded source (tests) or no noise keeps to one.
            threads: localDp && (localDp.gaussian.seeded || localDp.noiseMultiplier === 0) ? 1 : options.threads,
            perSampleClipping: localDp !== undefined,
          })
        : ({ engine: "tfjs", reason: "no training steps" } as const);
    engine =
      choice.engine === "kernels"
        ? `kernels, ${choice.threads} thread${choice.threads > 1 ? "s" : ""}`
        : `tfjs (${choice.reason})`;
    const init = {
      source: trainSource,
      params,
      plan,
      rng,
      ...(args.fedproxMu > 0 ? { fedprox: { mu: args.fedproxMu, anchor: params.slice() } } : {}),
      ...(correction ? { correction } : {}),
      maxRows: sampler
        ? poissonBatchBound(rate * split.train.length, split.train.length)
        : Math.min(args.batchSize, split.train.length),
      ...(localDp ? { dp: localDp } : {}),
    };
    runner =
      choice.engine === "kernels"
        ? createKernelStepper(choice.spec, choice.threads, init)
        : createTfjsStepper(model, init);
    clock.lap("setup");
    const order = Int32Array.from(split.train);
    let position = order.length;
    let epoch = 0;
    let lastReport = performance.now();
    let lastYield = lastReport;
    for (let step = 0; step < totalSteps; step++) {
      signal?.throwIfAborted();
      // Without DP, seeded shuffles (reproducible); with DP, an epoch is ⌈N / B⌉ Poisson batches.
      if (sampler ? step % stepsPerEpoch === 0 : position >= order.length) {
        if (!sampler) rng.shuffle(order);
        position = 0;
        epoch++;
        // Epoch mode reports the last epoch's mean loss; update mode the mean over all updates.
        if (args.updates <= 0 && lossCount > 0) {
          await runner.takeLoss();
          lossSum = lossCount = 0;
        }
      }
      const batch = sampler ? sampler.next() : order.subarray(position, position + args.batchSize);
      position += batch.length;
      runner.step(batch);
      lossCount++;
      // The loss is read from the engine only for progress reports (a few a second) and at the end.
      const now = performance.now();
      const last = step + 1 === totalSteps;
      if (last || (options.onProgress && now - lastReport >= progressInterval)) {
        lossSum += await runner.takeLoss();
        lastReport = now;
        options.onProgress?.({ epoch, step: step + 1, totalSteps, loss: lossSum / lossCount });
      }
      if (now - lastYield >= yieldInterval) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    signal?.throwIfAborted();
    clock.lap("steps");
    const finalParams = await runner.finish();
    writeTrainable(variables, finalParams);
    clock.lap("copy");

    const localMetrics = await validate(args.testOnLocal, finalParams);
    const trained = getParams(model);
    clock.lap("copy");
    keep = warmKey !== undefined;
    return {
      params: trained,
      sampleCount: split.train.length,
      trainLoss: lossCount > 0 ? lossSum / lossCount : Number.NaN,
      ...(globalMetrics ? { globalMetrics } : {}),
      ...(localMetrics ? { localMetrics } : {}),
      seconds: (performance.now() - started) / 1000,
      steps: totalSteps,
      engine,
      phases: clock.phases,
    };
  } finally {
    runner?.close();
    if (keep && options.warm && warmKey) options.warm.rounds.keep(warmKey, model);
    else model.dispose();
  }
}

/** The model's trainable weights, flat in trainable-weight order (what the steppers start from). */
function readTrainable(variables: tf.Variable[]): Float32Array {
  const flat = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
  let at = 0;
  for (const v of variables) {
    flat.set(v.dataSync() as Float32Array, at);
    at += v.size;
  }
  return flat;
}

function writeTrainable(variables: tf.Variable[], flat: Float32Array): void {
  let at = 0;
  for (const v of variables) {
    tf.tidy(() => v.assign(tf.tensor(flat.subarray(at, at + v.size), v.shape, "float32")));
    at += v.size;
  }
}

/** The correction aligned with the model's trainable weights, flat (zeros for weights without an entry). */
function correctionVector(model: tf.LayersModel, correction: NamedTensor[]): Float32Array {
  const byName = new Map(correction.map((t) => [t.name, t]));
  const sizes = model.trainableWeights.map((w) => (w.shape as number[]).reduce((a, b) => a * b, 1));
  const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  trainableParamNames(model).forEach((name, i) => {
    const t = byName.get(name);
    const shape = model.trainableWeights[i].shape as number[];
    if (t && t.shape.join(",") !== shape.join(",")) {
      throw new InputError(`Cannot train: correction "${name}" has shape [${t.shape}], the weight has [${shape}]`);
    }
    if (t) flat.set(t.data, at);
    at += sizes[i];
  });
  return flat;
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
  if (args.dp && !(args.dp.noiseMultiplier >= 0)) fail(`DP noise multiplier ${args.dp.noiseMultiplier} is negative`);
  if (args.dp && !(args.dp.clipNorm > 0)) fail(`DP clip norm ${args.dp.clipNorm} is not positive`);
}
