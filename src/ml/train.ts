import * as tf from "@tensorflow/tfjs";
import { InputError } from "../common/errors.js";
import { createGaussian, type Gaussian } from "../privacy/dp/noise.js";
import { createPoissonSampler, poissonBatchBound } from "../privacy/dp/poisson-sampling.js";
import { createAugmenter } from "./augment.js";
import { createVolumeAugmenter, sliceRows } from "./augment-volume.js";
import { createWholeVolumeAugmenter } from "./augment-whole-volume.js";
import { currentBackend } from "./backend.js";
import { createRowSource } from "./batches.js";
import { dpPlanProblem } from "./dp-plan-check.js";
import { chooseEngine, type EngineChoice } from "./engine/choose-engine.js";
import { createKernelSession, flatParams, type KernelSession, namedParams } from "./engine/kernel-session.js";
import { type KernelPredictor, kernelPredictor, predictorRows } from "./engine/kernels-predictor.js";
import { createKernelStepper, runnerInit, runnerLayout, startRunner } from "./engine/kernels-stepper.js";
import { describeNetwork } from "./engine/network.js";
import type { Stepper, StepperInit } from "./engine/stepper.js";
import { createTfjsStepper } from "./engine/tfjs-stepper.js";
import type { WarmRounds } from "./engine/warm-rounds.js";
import { evaluateModel, evaluatePredictions } from "./evaluate.js";
import { splitSamples } from "./group-split.js";
import { checkLabelShape, checkLabels } from "./losses.js";
import { checkMetricNames, defaultMetrics, taskKind } from "./metrics.js";
import { buildModel, getParams, outputUnits, setParams, trainableParamNames } from "./model.js";
import { checkParams, weightShapes } from "./params.js";
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
  /**
   * Told once `params`' values have been copied into memory of this round's own (the kernels path's flat
   * parameters, right after `flatParams`), after which training never reads `params` again; not called on
   * the tfjs path (its cpu backend keeps the typed arrays it is given, and a warm network keeps them).
   */
  onParamsCopied?: () => void;
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
      ? plan.data.slices === "none"
        ? createWholeVolumeAugmenter(augment3d, options.data.sampleShape, draws)
        : createVolumeAugmenter(augment3d, sliceRows(options.data, plan), draws)
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
  // with the same three reuses it, and on the kernels its session (engine/kernel-session.ts).
  const warmKey = options.warm && JSON.stringify([options.warm.experiment, plan, options.data.sampleShape, args.seed]);
  const taken = options.warm && warmKey ? options.warm.rounds.take(warmKey, build) : { model: build() };
  const { model, initial } = taken;
  let session: KernelSession | undefined = taken.session;
  let keep = false;
  clock.lap("build");
  /** Steppers this round made and closes (a kept session's runner is not one). */
  let ownStepper: Stepper | undefined;
  let lossSum = 0;
  let lossCount = 0;
  try {
    // The executor refuses such plans with a typed reply (dp-plan-check.ts); this catches any other caller
    // and any layer with non-trained state the allow-list may gain.
    if (args.dp && model.nonTrainableWeights.length > 0) {
      const layer = dpPlanProblem(plan)?.message ?? "the model has weights computed from rows, not trained";
      throw new InputError(`Cannot train under dp: ${layer}`);
    }
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
    const validating = (args.testOnGlobal || args.testOnLocal) && split.test.length > 0;
    // One choice for the round's steps and its validation.
    let choice: EngineChoice =
      totalSteps > 0 || validating
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
    const engine =
      totalSteps === 0
        ? "tfjs (no training steps)"
        : choice.engine === "kernels"
          ? `kernels, ${choice.threads} thread${choice.threads > 1 ? "s" : ""}`
          : `tfjs (${choice.reason})`;
    // The kernels hold every weight: the tfjs network is not touched again this round. A model with
    // non-trainable weights (batch normalization's moving statistics) keeps them in the tfjs network
    // between rounds: it trains on a runner of its own each round, its statistics copied in and out.
    const kernels = choice.engine === "kernels" && model.nonTrainableWeights.length === 0 ? choice : undefined;
    // A round on tfjs drops a kept kernels session (a round that neither trains nor validates keeps it).
    if (!kernels && session && (totalSteps > 0 || validating)) {
      session.close();
      session = undefined;
    }
    const weights = session?.weights ?? (kernels ? weightShapes(model) : undefined);
    // A kept network holds the last round's weights: it starts again from the sent or initial ones.
    const start = options.params ?? initial;
    let params: Float32Array;
    if (weights) {
      if (start) checkParams(weights, start);
      params = start ? flatParams(weights, start) : readTrainable(model);
      if (start && start === options.params) options.onParamsCopied?.();
    } else {
      if (start) setParams(model, start);
      params = readTrainable(model);
    }
    // Batch normalization's moving statistics go into the kernels beside the parameters; tfjs reads the model's.
    const state = !weights && choice.engine === "kernels" && choice.spec.stateSizes ? readState(model) : undefined;
    // Frozen layers' weights travel in the description (network.ts): read them once this round's are in.
    if (!weights && choice.engine === "kernels" && choice.spec.frozen) {
      const spec = describeNetwork(model, plan.loss);
      if ("unsupported" in spec) throw new Error(`the kernels no longer cover the model: ${spec.unsupported}`);
      choice = { ...choice, spec };
    }
    checkLabels(plan.loss, options.data.y, outputUnits(model), plan.data.classes);
    const correction = options.gradientCorrection && correctionVector(model, options.gradientCorrection);
    clock.lap("copy");

    const rng = createRng(deriveSeed(args.seed, "batches", options.round ?? 0));
    const init: StepperInit = {
      source: trainSource,
      params,
      ...(state ? { state } : {}),
      plan,
      rng,
      ...(args.fedproxMu > 0 ? { fedprox: { mu: args.fedproxMu, anchor: params.slice() } } : {}),
      ...(correction ? { correction } : {}),
      maxRows: sampler
        ? poissonBatchBound(rate * split.train.length, split.train.length)
        : Math.min(args.batchSize, split.train.length),
      ...(localDp ? { dp: localDp } : {}),
    };
    let predictor: KernelPredictor | undefined;
    let stepper: Stepper | undefined;
    if (kernels && weights) {
      const start = runnerInit(kernels.spec, init);
      const layout = JSON.stringify([runnerLayout(start, kernels.threads), predictorRows(args.batchSize)]);
      if (session && session.layout !== layout) {
        session.close();
        session = undefined;
      }
      session ??= createKernelSession(layout, weights);
      // Validation is forward passes only: on the kernels when they cover the model, else tfjs's predict.
      if (validating) predictor = session.predictor ??= kernelPredictor(kernels, args.batchSize);
      if (totalSteps > 0) {
        session.runner = startRunner(start, kernels.threads, session.runner);
        stepper = createKernelStepper(kernels.spec, session.runner, rng);
      }
    } else if (choice.engine === "kernels") {
      if (validating) predictor = kernelPredictor(choice, args.batchSize);
      if (totalSteps > 0) {
        const runner = startRunner(runnerInit(choice.spec, init), choice.threads);
        stepper = ownStepper = createKernelStepper(choice.spec, runner, rng);
      }
    }
    clock.lap("setup");
    const validate = async (when: boolean, weights: Float32Array, moving?: Float32Array) => {
      const options = { plan, metrics, indices: split.test };
      const result =
        when && split.test.length > 0
          ? predictor
            ? await evaluatePredictions(
                (rows) => predictor.predict(weights, rows, source, moving),
                outputUnits(model),
                source,
                options,
              )
            : await evaluateModel(model, source, options)
          : undefined;
      clock.lap("validate");
      return result;
    };
    const globalMetrics = await validate(args.testOnGlobal, params, state);

    if (!stepper) {
      stepper = ownStepper = totalSteps > 0 ? createTfjsStepper(model, init) : undefined;
      clock.lap("setup");
    }
    const order = Int32Array.from(split.train);
    let position = order.length;
    let epoch = 0;
    let lastReport = performance.now();
    let lastYield = lastReport;
    for (let step = 0; step < totalSteps; step++) {
      const runner = stepper!;
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
    const finalParams = stepper ? await stepper.finish() : params;
    if (!weights && stepper) writeTrainable(model, finalParams);
    const finalState = stepper?.trainedState();
    if (finalState) writeState(model, finalState);
    clock.lap("copy");

    const localMetrics = await validate(args.testOnLocal, finalParams, finalState ?? (state && readState(model)));
    const trained = weights ? namedParams(weights, finalParams) : getParams(model);
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
    ownStepper?.close();
    if (keep && options.warm && warmKey) options.warm.rounds.keep(warmKey, model, session);
    else {
      session?.close();
      model.dispose();
    }
  }
}

/** The model's trainable weights, flat in trainable-weight order (what the steppers start from). */
function readTrainable(model: tf.LayersModel): Float32Array {
  return readWeights(model.trainableWeights);
}

/** The model's non-trainable weights (moving statistics), flat; undefined when it has none. */
function readState(model: tf.LayersModel): Float32Array | undefined {
  return model.nonTrainableWeights.length === 0 ? undefined : readWeights(model.nonTrainableWeights);
}

function writeTrainable(model: tf.LayersModel, flat: Float32Array): void {
  writeWeights(model.trainableWeights, flat);
}

function writeState(model: tf.LayersModel, flat: Float32Array): void {
  writeWeights(model.nonTrainableWeights, flat);
}

/** Weights read as one flat array, one after another in the order given. */
function readWeights(weights: tf.LayerVariable[]): Float32Array {
  const variables = weights.map((w) => w.read() as tf.Variable);
  const flat = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
  let at = 0;
  for (const v of variables) {
    flat.set(v.dataSync() as Float32Array, at);
    at += v.size;
  }
  return flat;
}

/** Sets weights from one flat array laid out as readWeights lays it out. */
function writeWeights(weights: tf.LayerVariable[], flat: Float32Array): void {
  let at = 0;
  for (const v of weights.map((w) => w.read() as tf.Variable)) {
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
