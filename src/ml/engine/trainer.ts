import type { Plan } from "../plan.js";
import { createKernelInstance, type KernelInstance } from "./kernels.js";
import {
  activationCodes,
  type Conv2dOp,
  hasWeights,
  inputSize,
  isNormalize,
  kernelSize,
  type LayerOp,
  labelWidth,
  type MaxPoolOp,
  type NetworkSpec,
  outputSize,
  type Volume,
} from "./network.js";
import { createPerSampleClipper, type PerSampleClipper, type WeightedLayer } from "./per-sample-clip.js";
import { type SegmentationSums, segmentationLoss } from "./segmentation-loss.js";

/** The optimizer as plain data, with tfjs's defaults filled in (engine/assembly/loss-optim.ts applies it). */
export interface OptimizerSpec {
  name: Plan["optimizer"]["name"];
  lr: number;
  momentum: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Weight decay: decoupled (w ← w·(1 − lr·wd) before the step) for adamw, an L2 gradient term otherwise. */
  decay: number;
}

/** AdamW's default decay when the plan names none (PyTorch's default), as in ml/optimizer.ts. */
const adamwDefaultDecay = 0.01;
/** Convolution patches up to this many floats (64 MiB) are kept between the forward and backward pass. */
const keepPatchesUpTo = 16 * 1024 * 1024;
/** tfjs's float32 backend epsilon, which its Adagrad adds under the square root. */
const backendEpsilon = 1e-7;

export function optimizerSpec(spec: Plan["optimizer"]): OptimizerSpec {
  return {
    name: spec.name,
    lr: spec.learning_rate,
    momentum: spec.momentum ?? 0,
    beta1: spec.beta1 ?? 0.9,
    beta2: spec.beta2 ?? 0.999,
    epsilon: spec.epsilon ?? 1e-7,
    decay: spec.weight_decay ?? (spec.name === "adamw" ? adamwDefaultDecay : 0),
  };
}

export interface TrainerOptions {
  /** Most rows one `computeGradients` call handles. */
  maxRows: number;
  optimizer: OptimizerSpec;
  /** FedProx coefficient: the gradient gains mu·(w − w_global). */
  fedproxMu: number;
  /** SCAFFOLD: a correction vector is added to the gradient at every step. */
  correction: boolean;
  /** DP-SGD: lay out what `computeClippedGradients` needs (per-sample-clip.ts). */
  clipping?: boolean;
  /**
   * Floats of convolution patches or padded input a layer keeps from the forward pass for its filter
   * gradient (default `keepPatchesUpTo`); larger ones share one buffer, rebuilt in the backward pass.
   */
  keepUpTo?: number;
}

/**
 * One copy of a network in a kernels instance: parameters, gradients, optimizer state and every buffer a
 * step needs, laid out once. A step is `x`/`labels` filled by the caller, `computeGradients`, then
 * `applyUpdate`; only the gradients of weights are computed (never of the input batch).
 */
export interface NetworkTrainer {
  /** Views into the instance's memory (stable: all memory is reserved up front). */
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /**
   * Non-trainable weights (batch normalization's moving mean and variance), flat in `spec.stateSizes`
   * order: `computeGradients` updates them from each batch's statistics, `predict` normalizes with them.
   */
  readonly state: Float32Array;
  /** The global parameters FedProx pulls towards (valid when fedproxMu > 0). */
  readonly anchor: Float32Array;
  /** SCAFFOLD's c − c_i (valid when `correction`). */
  readonly correction: Float32Array;
  readonly x: Float32Array;
  /** One label per row, or with `spec.segmentation` one per output value (row after row). */
  readonly labels: Float32Array;
  /** Floats of x and of labels per row (a thread takes its slice of a shared batch by them). */
  readonly inputWidth: number;
  readonly labelWidth: number;
  /** Dropout layers in the network: `computeGradients` takes one mask seed per layer per step. */
  readonly dropouts: number;
  /**
   * Forward and backward over the first `rows` rows of x; the loss is divided by `divisor`. Returns Σ loss.
   * `rowOffset` is the first row's position in the whole batch (a thread's slice), `seeds` the dropout seeds.
   */
  computeGradients(rows: number, divisor: number, rowOffset?: number, seeds?: ArrayLike<number>): number;
  /**
   * DP-SGD: grads = Σ over the first `rows` rows of each sample's gradient clipped to L2 norm `clipNorm`
   * (over all weights; undivided, no noise). Returns Σ loss. Needs `clipping` in the options.
   */
  computeClippedGradients(rows: number, clipNorm: number, rowOffset?: number, seeds?: ArrayLike<number>): number;
  /**
   * Inference on the first `rows` rows of x (dropout off): the last layer's outputs, `rows × outputUnits`,
   * a view into the instance's memory that the next call overwrites.
   */
  predict(rows: number): Float32Array;
  /**
   * A participant of a data-parallel step: over its share of the parameters, participant 0's gradient
   * becomes the sum of every participant's, in participant order (the same sum whoever computes it).
   * Call once every participant's gradient is complete. Nothing to do on one thread.
   */
  reduceGrads(): void;
  /**
   * Gradient terms (FedProx, SCAFFOLD, L2) and the optimizer step, in the order the tfjs path applies them,
   * over this trainer's share of the parameters (all of them on one thread), from participant 0's gradient.
   */
  applyUpdate(): void;
  /**
   * Starts training afresh on the same layout (a node's next round): gradients, optimizer state (its share)
   * and step count back to a new trainer's; the parameters, anchor and correction are the caller's to set.
   */
  reset(): void;
}

/**
 * What the participants of a data-parallel step share, in one kernels memory (kernels.ts
 * `createKernelMemory`): the parameters, moving statistics, optimizer state, FedProx anchor and SCAFFOLD
 * correction exist once, and each participant's gradient sits where the others read it, so a step moves
 * no model-sized copy between threads (a reduce-scatter in place: each participant sums and updates its
 * own share). Pointers, laid out by `allocateModel`; a lone trainer lays out its own with one participant.
 */
export interface ModelMemory {
  params: number;
  /** Non-trainable weights (moving statistics), `spec.stateSizes` in all. */
  state: number;
  /** The optimizer's per-parameter state (0, 1 or 2 vectors). */
  optimizer: number[];
  /** 0 when not used. */
  anchor: number;
  correction: number;
  /** Each participant's gradient; participant 0's receives the sum. */
  grads: number[];
  /**
   * Several participants with batch normalization or a Dice loss: each one's block of batch statistics
   * (`exchangeFloats`), which the others read to go on with the whole batch's.
   */
  statistics: number[];
}

/** A trainer's part in a data-parallel step: its gradient, and the share of the parameters it updates. */
export interface Participant {
  model: ModelMemory;
  index: number;
  /** Parameters [from, to) this participant sums and updates. */
  share: [number, number];
  /** Waits until every participant called it as many times (batch normalization's exchanges). */
  meet(): void;
}

/**
 * Floats a participant publishes per batch normalization layer: its positions, its slice's mean and
 * variance per channel (forward), and its slice's Σ dy and Σ dy·x̂ (backward).
 */
const statisticsFloats = (c: number) => 1 + 4 * c;

/** Floats a participant publishes for a Dice loss, at its block's start: its rows, Σ p·y, Σ p + Σ y (float64). */
const segmentationFloats = 6;

/** Floats of one participant's batch statistics block (0 without batch normalization or Dice). */
function exchangeFloats(spec: NetworkSpec): number {
  const dice = spec.segmentation ? segmentationFloats : 0;
  return spec.layers.reduce((n, op) => n + (op.kind === "batchNorm" ? statisticsFloats(op.c) : 0), dice);
}

/** Optimizer state vectors per parameter. */
function optimizerVectors(o: OptimizerSpec): number {
  return o.name === "adam" || o.name === "adamw" || o.name === "rmsprop"
    ? 2
    : o.name === "sgd" && o.momentum === 0
      ? 0
      : 1;
}

/** Lays out a model for `participants` trainers in `instance`'s memory (nothing written: zero memory). */
export function allocateModel(
  spec: NetworkSpec,
  options: TrainerOptions,
  instance: KernelInstance,
  participants = 1,
): ModelMemory {
  const P = spec.tensorSizes.reduce((a, b) => a + b, 0);
  const S = (spec.stateSizes ?? []).reduce((a, b) => a + b, 0);
  const f32 = (count: number) => instance.alloc(count * 4);
  return {
    params: f32(P),
    state: f32(S),
    optimizer: Array.from({ length: optimizerVectors(options.optimizer) }, () => f32(P)),
    anchor: options.fedproxMu > 0 ? f32(P) : 0,
    correction: options.correction ? f32(P) : 0,
    grads: Array.from({ length: participants }, () => f32(P)),
    statistics: Array.from({ length: participants > 1 ? participants : 0 }, () => f32(exchangeFloats(spec))),
  };
}

interface LayerBuffers {
  op: LayerOp;
  out: number;
  /** Max pooling: index of each maximum; dropout: the step's mask. */
  argmax: number;
  weight: number;
  bias: number;
  gWeight: number;
  gBias: number;
  /** Normalization: x̂ kept for the backward pass, 1/√(variance + ε) (per channel, or per position for layer). */
  xhat: number;
  invStd: number;
  /** Batch normalization: the batch's mean and variance, and the moving ones in `state`. */
  mean: number;
  variance: number;
  movingMean: number;
  movingVariance: number;
}

/**
 * A trainer with its own model, or (`participant`) one participant of a data-parallel step whose model
 * lives in memory shared with the others (`instance` on that memory).
 */
export function createNetworkTrainer(
  spec: NetworkSpec,
  options: TrainerOptions,
  instance: KernelInstance = createKernelInstance(),
  participant?: Participant,
): NetworkTrainer {
  const k = instance.kernels;
  const R = options.maxRows;
  const P = spec.tensorSizes.reduce((a, b) => a + b, 0);
  const S = (spec.stateSizes ?? []).reduce((a, b) => a + b, 0);
  const f32 = (count: number) => instance.alloc(count * 4);
  const model = participant?.model ?? allocateModel(spec, options, instance);
  const { params: paramsPtr, state: statePtr, anchor: anchorPtr, correction: correctionPtr } = model;
  const gradsPtr = model.grads[participant?.index ?? 0];
  const [from, to] = participant?.share ?? [0, P];
  const o = options.optimizer;
  // The update of this trainer's share: from participant 0's gradient (the sum), on the share's slices.
  const shareOf = (ptr: number) => ptr + from * 4;
  const n = to - from;
  const sumPtr = shareOf(model.grads[0]);
  const shareParams = shareOf(paramsPtr);
  const state = model.optimizer.map(shareOf);
  // tfjs's Adagrad starts its accumulator at 0.1 (ml/optimizer.ts passes that value).
  const initialState = () => {
    for (const ptr of state) instance.f32(ptr, n).fill(o.name === "adagrad" ? 0.1 : 0);
  };
  if (o.name === "adagrad") initialState();
  const xPtr = f32(R * spec.inputSize);
  // One label per row, or per output value for segmentation (a mask).
  const labelsPtr = f32(R * labelWidth(spec));

  // Parameters sit in trainable-weight order; each layer's buffers point into them.
  let offset = 0;
  const next = (count: number) => {
    const at = offset;
    offset += count;
    return at * 4;
  };
  // A graph: each layer's inputs (−1: the batch).
  const producers = spec.inputs ?? spec.layers.map((_, l) => [l - 1]);
  if (options.clipping && (spec.frozen || spec.segmentation))
    throw new Error("per-sample clipping covers neither frozen layers nor segmentation");
  if (
    options.clipping &&
    spec.layers.some((op) => (hasWeights(op) && op.kind !== "dense" && op.kind !== "conv2d") || isNormalize(op))
  )
    throw new Error("per-sample clipping covers dense and conv2d layers only");
  let stateOffset = 0;
  const nextState = (count: number) => {
    const at = statePtr + stateOffset * 4;
    stateOffset += count;
    return at;
  };
  const layers: LayerBuffers[] = spec.layers.map((op, l) => {
    const weights = hasWeights(op);
    const norm = isNormalize(op);
    const biasCount = norm
      ? op.center
        ? op.c
        : 0
      : !weights || !op.bias
        ? 0
        : op.kind === "dense"
          ? op.units
          : op.kind === "convTranspose"
            ? op.c
            : op.filters;
    const pooled = op.kind === "maxPool" || op.kind === "maxPool3d" || op.kind === "dropout";
    const batchNorm = op.kind === "batchNorm";
    const buffers = {
      op,
      out: f32(R * outputSize(op)),
      argmax: pooled ? instance.alloc(R * outputSize(op) * 4) : 0,
      xhat: norm ? f32(R * outputSize(op)) : 0,
      // Per channel (batch), per position (layer) or per sample and group (group).
      invStd: norm ? f32(op.kind === "batchNorm" ? op.c : op.kind === "groupNorm" ? R * op.groups : R * op.pixels) : 0,
      mean: batchNorm ? f32(op.c) : 0,
      variance: batchNorm ? f32(op.c) : 0,
      movingMean: batchNorm ? nextState(op.c) : 0,
      movingVariance: batchNorm ? nextState(op.c) : 0,
    };
    // network.ts describes no frozen normalization layer.
    const fixed = spec.frozen?.[l];
    if (weights && fixed) {
      // A frozen layer: its weights in their own buffer, outside the optimizer's; no weight gradients.
      const at = f32(fixed.length);
      instance.f32(at, fixed.length).set(fixed);
      return { ...buffers, weight: at, bias: biasCount > 0 ? at + kernelSize(op) * 4 : 0, gWeight: 0, gBias: 0 };
    }
    // A normalization's γ sits where a kernel would, its β where a bias would.
    const w = weights ? next(kernelSize(op)) : norm && op.scale ? next(op.c) : -1;
    const b = biasCount > 0 ? next(biasCount) : -1;
    return {
      ...buffers,
      weight: w < 0 ? 0 : paramsPtr + w,
      bias: b < 0 ? 0 : paramsPtr + b,
      gWeight: w < 0 ? 0 : gradsPtr + w,
      gBias: b < 0 ? 0 : gradsPtr + b,
    };
  });
  // γ and β gradients of normalizations without them still have to be written somewhere.
  const widestNorm = Math.max(0, ...spec.layers.map((op) => (isNormalize(op) ? op.c : 0)));
  const normScratch = f32(2 * widestNorm);
  // Participants sharing a batch: batch normalization's statistics exchange (batchMoments), per layer
  // and participant a view of that participant's block, and the whole batch's sums of the backward pass.
  const together = participant !== undefined && model.statistics.length > 1;
  const normTotals = together ? f32(2 * widestNorm) : 0;
  const batchPositions = spec.layers.map(() => 0);
  // Dice's sums, each participant's at its block's start (8-byte aligned: blocks are 16-byte aligned).
  const diceSums =
    together && spec.segmentation
      ? model.statistics.map((block) => new Float64Array(instance.memory.buffer, block, 3))
      : [];
  let statisticsAt = spec.segmentation ? segmentationFloats : 0;
  const statistics = spec.layers.map((op) => {
    if (!together || op.kind !== "batchNorm") return [];
    const at = statisticsAt;
    statisticsAt += statisticsFloats(op.c);
    return model.statistics.map((block) => instance.f32(block + at * 4, statisticsFloats(op.c)));
  });
  // Which layers' outputs need a gradient: those with trained weights at or before them. Frozen layers
  // before every trained one (a frozen encoder) take no part in the backward pass.
  const trained = (l: number) => layers[l].gWeight !== 0 || layers[l].gBias !== 0;
  const needsGrad: boolean[] = [];
  for (const [l, from] of producers.entries()) needsGrad.push(trained(l) || from.some((p) => p >= 0 && needsGrad[p]));
  const largest = Math.max(spec.inputSize, ...spec.layers.map(outputSize));
  const deltaA = f32(R * largest);
  const deltaB = f32(R * largest);
  // A graph: per layer a buffer where its consumers sum ∂loss/∂output (a sequence passes one gradient
  // along two buffers instead).
  const gradOut = spec.inputs ? spec.layers.map((op) => f32(R * outputSize(op))) : [];
  // Where each layer's output is: its buffer, or in inference a dropout's input (passed through).
  const outputs = layers.map((layer) => layer.out);
  const sourceOf = (l: number, i: number) => {
    const p = producers[l][i];
    return p < 0 ? xPtr : outputs[p];
  };
  // Convolution patches: kept from the forward pass for the filter gradient when they are small, else
  // rebuilt in the backward pass in one shared buffer (large images would need gigabytes otherwise).
  // A transposed convolution's patches are those of its adjoint (its output gradient's in the backward pass).
  const patchesOf = (op: LayerOp) =>
    op.kind === "conv2d"
      ? R * op.oh * op.ow * op.kh * op.kw * op.c
      : op.kind === "conv3d" || op.kind === "convTranspose"
        ? R * op.od * op.oh * op.ow * op.kd * op.kh * op.kw * op.c
        : 0;
  // Direct convolutions (directConvolution) read a zero-padded copy of their input instead, kept per layer
  // for the filter gradient; their patches are built only for DP-SGD's per-sample gradients.
  const direct = (op: LayerOp) => op.kind === "conv2d" && directConvolution(op);
  const keepUpTo = options.keepUpTo ?? keepPatchesUpTo;
  const largestPatches = Math.max(0, ...spec.layers.map((op) => (direct(op) && !options.clipping ? 0 : patchesOf(op))));
  const sharedPatches = largestPatches > 0 ? f32(largestPatches) : 0;
  // The input gradient's scratch: a patch gradient for col2im, or the output gradient's patches.
  // (None for a direct full convolution: it pads the output gradient instead, into paddedGrads.)
  const inputGradPatches = (op: LayerOp) =>
    op.kind !== "conv2d" || !byFullConvolution(op)
      ? patchesOf(op)
      : directFullConvolution(op)
        ? 0
        : R * op.h * op.w * op.kh * op.kw * op.filters;
  const largestPatchGrads = Math.max(0, ...spec.layers.map(inputGradPatches));
  const patchGrads = largestPatchGrads > 0 ? f32(largestPatchGrads) : 0;
  const keptPatches = spec.layers.map((op) =>
    op.kind !== "convTranspose" && !direct(op) && patchesOf(op) > 0 && patchesOf(op) <= keepUpTo
      ? f32(patchesOf(op))
      : 0,
  );
  // As patches: each layer keeps its own when small, else they share one, padded again in the backward pass.
  const paddedOf = (op: LayerOp) => (op.kind === "conv2d" && direct(op) ? R * paddedSize(op) : 0);
  const padded = spec.layers.map((op) => (paddedOf(op) > 0 && paddedOf(op) <= keepUpTo ? f32(paddedOf(op)) : 0));
  const largestShared = Math.max(0, ...spec.layers.map((op, l) => (padded[l] ? 0 : paddedOf(op))));
  const sharedPadded = largestShared > 0 ? f32(largestShared) : 0;
  // The output gradient, padded for a direct full convolution (the input gradient of directFullConvolution).
  const paddedGrads = f32(
    Math.max(
      0,
      ...spec.layers.map((op) => (op.kind === "conv2d" && directFullConvolution(op) ? R * fullPaddedSize(op) : 0)),
    ),
  );
  const pack = f32(256 * 8);
  const transposed = f32(Math.max(1, ...spec.layers.map((op) => (hasWeights(op) ? kernelSize(op) : 0))));
  const dropouts = spec.layers.filter((op) => op.kind === "dropout").length;
  let steps = 0;
  // DP-SGD: weighted layers, in order, as the per-sample clipper sees them.
  const weighted: (WeightedLayer & { at: number })[] = [];
  for (const [l, layer] of layers.entries()) {
    const op = layer.op;
    if (op.kind !== "dense" && op.kind !== "conv2d") continue;
    const input = sourceOf(l, 0);
    weighted.push({ op, input, bias: layer.bias, gWeight: layer.gWeight, gBias: layer.gBias, at: l });
  }
  const clipper: PerSampleClipper | undefined = options.clipping
    ? createPerSampleClipper(weighted, {
        instance,
        maxRows: R,
        pack,
        patches(layer, rows) {
          const l = (layer as (typeof weighted)[number]).at;
          const op = layer.op as Conv2dOp;
          if (keptPatches[l]) return keptPatches[l];
          k.im2col(layer.input, ...windowArgs(op, rows), sharedPatches);
          return sharedPatches;
        },
      })
    : undefined;
  const weightedIndex = new Map(weighted.map((w, i) => [w.at, i]));

  const windowArgs = (op: Conv2dOp | MaxPoolOp, rows: number) =>
    [rows, op.h, op.w, op.c, op.kh, op.kw, op.sh, op.sw, op.pt, op.pl, op.oh, op.ow] as const;
  /** The window over a conv2d's output gradient whose patches make its input gradient (byFullConvolution). */
  const fullWindowArgs = (op: Conv2dOp, rows: number) =>
    [rows, op.oh, op.ow, op.filters, op.kh, op.kw, 1, 1, op.kh - 1 - op.pt, op.kw - 1 - op.pl, op.h, op.w] as const;
  const volumeArgs = (op: Volume, rows: number) =>
    [
      rows,
      op.d,
      op.h,
      op.w,
      op.c,
      op.kd,
      op.kh,
      op.kw,
      op.sd,
      op.sh,
      op.sw,
      op.pf,
      op.pt,
      op.pl,
      op.od,
      op.oh,
      op.ow,
    ] as const;
  /** A direct convolution's padded input, window, strides and output, as convForward and its gradient take them. */
  const directArgs = (op: Conv2dOp, rows: number) =>
    [rows, ...paddedShape(op), op.c, op.kh, op.kw, op.sh, op.sw, op.oh, op.ow] as const;
  const unpaddedArgs = (op: Volume, rows: number) =>
    [rows, op.d, op.h, op.w, op.c, op.kd, op.kh, op.kw, op.sd, op.sh, op.sw, op.od, op.oh, op.ow] as const;

  /**
   * Without `seeds` (inference), dropout layers pass their input through, as Keras does outside training.
   * Returns the pointer of the network's output.
   */
  function forward(rows: number, rowOffset: number, seeds?: ArrayLike<number>): number {
    let dropout = 0;
    for (const [l, layer] of layers.entries()) {
      const op = layer.op;
      const input = sourceOf(l, 0);
      if (op.kind === "dense") {
        k.gemm(rows, op.units, op.inputs, input, op.inputs, 1, layer.weight, op.units, layer.out, op.units, 0, pack);
        k.biasActivation(layer.out, rows, op.units, layer.bias, op.act);
      } else if (op.kind === "conv2d") {
        const K = op.kh * op.kw * op.c;
        const M = rows * op.oh * op.ow;
        if (direct(op)) {
          const xp = padded[l] || sharedPadded;
          k.padImage(input, rows, op.h, op.w, op.c, op.pt, op.pl, ...paddedShape(op), xp);
          k.convForward(xp, ...directArgs(op, rows), layer.weight, op.filters, layer.out);
        } else {
          const patches = keptPatches[l] || sharedPatches;
          k.im2col(input, ...windowArgs(op, rows), patches);
          k.gemm(M, op.filters, K, patches, K, 1, layer.weight, op.filters, layer.out, op.filters, 0, pack);
        }
        k.biasActivation(layer.out, M, op.filters, layer.bias, op.act);
      } else if (op.kind === "maxPool") {
        k.maxPool(input, ...windowArgs(op, rows), layer.out, layer.argmax);
      } else if (op.kind === "avgPool") {
        k.avgPool(input, rows, op.h, op.w, op.c, op.kh, op.kw, op.sh, op.sw, op.oh, op.ow, layer.out);
      } else if (op.kind === "conv3d") {
        const K = op.kd * op.kh * op.kw * op.c;
        const M = rows * op.od * op.oh * op.ow;
        const patches = keptPatches[l] || sharedPatches;
        k.im2col3d(input, ...volumeArgs(op, rows), patches);
        k.gemm(M, op.filters, K, patches, K, 1, layer.weight, op.filters, layer.out, op.filters, 0, pack);
        k.biasActivation(layer.out, M, op.filters, layer.bias, op.act);
      } else if (op.kind === "convTranspose") {
        // The adjoint convolution's input gradient: patches = x·Wᵀ, summed back into place by col2im.
        const K = op.kd * op.kh * op.kw * op.c;
        const M = rows * op.od * op.oh * op.ow;
        k.transpose(layer.weight, K, op.inputs, transposed);
        k.gemm(M, K, op.inputs, input, op.inputs, 1, transposed, K, sharedPatches, K, 0, pack);
        k.col2im3d(sharedPatches, ...volumeArgs(op, rows), layer.out);
        k.biasActivation(layer.out, rows * op.d * op.h * op.w, op.c, layer.bias, op.act);
      } else if (op.kind === "maxPool3d") {
        k.maxPool3d(input, ...volumeArgs(op, rows), layer.out, layer.argmax);
      } else if (op.kind === "avgPool3d") {
        k.avgPool3d(input, ...unpaddedArgs(op, rows), layer.out);
      } else if (op.kind === "upSample") {
        k.upsample(input, rows, op.d, op.h, op.w, op.c, op.sd, op.sh, op.sw, layer.out);
      } else if (op.kind === "concat") {
        k.concatChannels(input, op.ca, sourceOf(l, 1), op.cb, rows * op.pixels, layer.out);
      } else if (op.kind === "add") {
        k.add(input, sourceOf(l, 1), rows * op.size, layer.out);
      } else if (op.kind === "batchNorm") {
        const positions = rows * op.pixels;
        if (seeds) {
          // Training: the batch's own statistics, which also move the moving ones (once per step, as Keras).
          if (together) batchMoments(l, input, positions);
          else k.channelMoments(input, positions, op.c, layer.mean, layer.variance);
          k.normalize(
            input,
            positions,
            op.c,
            layer.mean,
            layer.variance,
            op.epsilon,
            layer.invStd,
            layer.weight,
            layer.bias,
            layer.xhat,
            layer.out,
          );
          // The moving statistics are the participants' one copy: participant 0 moves them.
          if ((participant?.index ?? 0) === 0) {
            k.movingAverage(op.c, op.momentum, layer.movingMean, layer.mean);
            k.movingAverage(op.c, op.momentum, layer.movingVariance, layer.variance);
          }
        } else {
          k.normalize(
            input,
            positions,
            op.c,
            layer.movingMean,
            layer.movingVariance,
            op.epsilon,
            layer.invStd,
            layer.weight,
            layer.bias,
            0,
            layer.out,
          );
        }
      } else if (op.kind === "layerNorm") {
        k.layerNorm(
          input,
          rows * op.pixels,
          op.c,
          op.epsilon,
          layer.weight,
          layer.bias,
          layer.xhat,
          layer.invStd,
          layer.out,
        );
      } else if (op.kind === "groupNorm") {
        k.groupNorm(
          input,
          rows,
          op.pixels,
          op.c,
          op.groups,
          op.epsilon,
          layer.weight,
          layer.bias,
          layer.xhat,
          layer.invStd,
          layer.out,
        );
      } else if (seeds) {
        k.dropout(input, rows, op.size, op.rate, seeds[dropout++] >>> 0, rowOffset, layer.out, layer.argmax);
      } else {
        outputs[l] = input; // inference: dropout is the identity
        continue;
      }
      outputs[l] = layer.out;
    }
    return outputs[layers.length - 1];
  }

  /** With `clip`, weighted layers hand their deltas to the clipper instead of computing weight gradients. */
  function backward(rows: number, divisor: number, clip?: PerSampleClipper): number {
    const last = layers[layers.length - 1];
    const graph = spec.inputs !== undefined;
    for (const [l, ptr] of gradOut.entries()) instance.f32(ptr, rows * outputSize(layers[l].op)).fill(0);
    const units = spec.outputUnits;
    // delta holds ∂loss/∂(layer output), turned into ∂loss/∂(pre-activation) in place.
    let delta = graph ? gradOut[layers.length - 1] : deltaA;
    let spare = deltaB;
    const loss = spec.segmentation
      ? segmentationLoss(
          spec.segmentation,
          instance.f32(last.out, rows * units),
          instance.f32(labelsPtr, rows * units),
          instance.f32(spare, rows * units),
          rows,
          divisor,
          together ? combineSums : undefined,
        )
      : k.lossForward(spec.loss, last.out, labelsPtr, rows, units, divisor, spare);
    if ((last.op as { act: number }).act === activationCodes.softmax) {
      k.softmaxBackward(spare, last.out, rows, units, delta);
    } else if (graph) {
      k.accumulate(delta, spare, rows * units); // delta was zeroed: a copy
    } else {
      [delta, spare] = [spare, delta];
    }
    for (let l = layers.length - 1; l >= 0; l--) {
      // Nothing trained at or before this layer: no gradient to pass (in a sequence, nor before it).
      if (!needsGrad[l]) {
        if (graph) continue;
        break;
      }
      const layer = layers[l];
      const op = layer.op;
      const input = sourceOf(l, 0);
      const wantInput = producers[l][0] >= 0 && needsGrad[producers[l][0]];
      if (graph) {
        delta = gradOut[l];
        spare = deltaA;
      }
      if (op.kind === "dense") {
        if (l < layers.length - 1 || op.act !== activationCodes.softmax)
          k.activationBackward(delta, layer.out, rows * op.units, op.act);
        if (clip) clip.record(weightedIndex.get(l)!, weighted[weightedIndex.get(l)!], delta);
        else if (layer.gWeight) {
          k.gemm(op.inputs, op.units, rows, input, 1, op.inputs, delta, op.units, layer.gWeight, op.units, 0, pack);
          if (layer.bias) k.columnSums(delta, rows, op.units, layer.gBias);
        }
        if (wantInput) {
          k.transpose(layer.weight, op.inputs, op.units, transposed);
          k.gemm(rows, op.inputs, op.units, delta, op.units, 1, transposed, op.inputs, spare, op.inputs, 0, pack);
        }
      } else if (op.kind === "conv2d") {
        const K = op.kh * op.kw * op.c;
        const M = rows * op.oh * op.ow;
        k.activationBackward(delta, layer.out, M * op.filters, op.act);
        if (clip) clip.record(weightedIndex.get(l)!, weighted[weightedIndex.get(l)!], delta);
        else if (layer.gWeight && direct(op)) {
          const xp = padded[l] || sharedPadded;
          if (!padded[l]) k.padImage(input, rows, op.h, op.w, op.c, op.pt, op.pl, ...paddedShape(op), xp);
          k.convFilterGradient(xp, ...directArgs(op, rows), delta, op.filters, layer.gWeight);
          if (layer.bias) k.columnSums(delta, M, op.filters, layer.gBias);
        } else if (layer.gWeight) {
          const patches = keptPatches[l] || sharedPatches;
          if (!keptPatches[l]) k.im2col(input, ...windowArgs(op, rows), patches);
          if (transposedFilterGradient(op)) {
            // Few filters: (patchesᵀ·delta)ᵀ = deltaᵀ·patches, K columns wide, both read in order; then turned.
            k.gemm(op.filters, K, M, delta, 1, op.filters, patches, K, transposed, K, 0, pack);
            k.transpose(transposed, op.filters, K, layer.gWeight);
          } else k.gemm(K, op.filters, M, patches, 1, K, delta, op.filters, layer.gWeight, op.filters, 0, pack);
          if (layer.bias) k.columnSums(delta, M, op.filters, layer.gBias);
        }
        if (wantInput && directFullConvolution(op)) {
          // As below, as a direct convolution of the padded output gradient: no patches at all.
          rotateFilters(instance, op, layer.weight, transposed);
          const [hp, wp] = fullPaddedShape(op);
          k.padImage(delta, rows, op.oh, op.ow, op.filters, op.kh - 1 - op.pt, op.kw - 1 - op.pl, hp, wp, paddedGrads);
          k.convForward(paddedGrads, rows, hp, wp, op.filters, op.kh, op.kw, 1, 1, op.h, op.w, transposed, op.c, spare);
        } else if (wantInput && byFullConvolution(op)) {
          // The input gradient is the output gradient convolved (stride 1, "full" padding) with the
          // filters turned 180° and their in/out channels swapped: one product of K = kh·kw·filters
          // straight into the input's shape, no kh·kw·c-wide patch gradient and no col2im.
          rotateFilters(instance, op, layer.weight, transposed);
          const F = op.kh * op.kw * op.filters;
          k.im2col(delta, ...fullWindowArgs(op, rows), patchGrads);
          k.gemm(rows * op.h * op.w, op.c, F, patchGrads, F, 1, transposed, op.c, spare, op.c, 0, pack);
        } else if (wantInput) {
          k.transpose(layer.weight, K, op.filters, transposed);
          k.gemm(M, K, op.filters, delta, op.filters, 1, transposed, K, patchGrads, K, 0, pack);
          k.col2im(patchGrads, ...windowArgs(op, rows), spare);
        }
      } else if (op.kind === "maxPool" && wantInput) {
        k.maxPoolBackward(delta, layer.argmax, rows * outputSize(op), spare, rows * inputSize(op));
      } else if (op.kind === "avgPool" && wantInput) {
        k.avgPoolBackward(delta, rows, op.h, op.w, op.c, op.kh, op.kw, op.sh, op.sw, op.oh, op.ow, spare);
      } else if (op.kind === "conv3d") {
        const K = op.kd * op.kh * op.kw * op.c;
        const M = rows * op.od * op.oh * op.ow;
        k.activationBackward(delta, layer.out, M * op.filters, op.act);
        if (layer.gWeight) {
          const patches = keptPatches[l] || sharedPatches;
          if (!keptPatches[l]) k.im2col3d(input, ...volumeArgs(op, rows), patches);
          k.gemm(K, op.filters, M, patches, 1, K, delta, op.filters, layer.gWeight, op.filters, 0, pack);
          if (layer.bias) k.columnSums(delta, M, op.filters, layer.gBias);
        }
        if (wantInput) {
          k.transpose(layer.weight, K, op.filters, transposed);
          k.gemm(M, K, op.filters, delta, op.filters, 1, transposed, K, patchGrads, K, 0, pack);
          k.col2im3d(patchGrads, ...volumeArgs(op, rows), spare);
        }
      } else if (op.kind === "convTranspose") {
        // The adjoint convolution run forward on the output gradient: its patches give both gradients.
        const K = op.kd * op.kh * op.kw * op.c;
        const M = rows * op.od * op.oh * op.ow;
        const pixels = rows * op.d * op.h * op.w;
        k.activationBackward(delta, layer.out, pixels * op.c, op.act);
        k.im2col3d(delta, ...volumeArgs(op, rows), sharedPatches);
        if (layer.gWeight) {
          k.gemm(K, op.inputs, M, sharedPatches, 1, K, input, op.inputs, layer.gWeight, op.inputs, 0, pack);
          if (layer.bias) k.columnSums(delta, pixels, op.c, layer.gBias);
        }
        if (wantInput) k.gemm(M, op.inputs, K, sharedPatches, K, 1, layer.weight, op.inputs, spare, op.inputs, 0, pack);
      } else if (op.kind === "maxPool3d" && wantInput) {
        k.maxPoolBackward(delta, layer.argmax, rows * outputSize(op), spare, rows * inputSize(op));
      } else if (op.kind === "avgPool3d" && wantInput) {
        k.avgPool3dBackward(delta, ...unpaddedArgs(op, rows), spare);
      } else if (op.kind === "upSample" && wantInput) {
        k.upsampleBackward(delta, rows, op.d, op.h, op.w, op.c, op.sd, op.sh, op.sw, spare);
      } else if (op.kind === "dropout" && wantInput) {
        k.multiply(delta, layer.argmax, rows * op.size, spare);
      } else if (op.kind === "groupNorm") {
        const dGamma = layer.gWeight || normScratch;
        const dBeta = layer.gBias || normScratch + op.c * 4;
        const dx = wantInput ? spare : 0;
        k.groupNormBackward(
          delta,
          layer.xhat,
          layer.invStd,
          rows,
          op.pixels,
          op.c,
          op.groups,
          layer.weight,
          dGamma,
          dBeta,
          dx,
        );
      } else if (op.kind === "batchNorm" || op.kind === "layerNorm") {
        const dGamma = layer.gWeight || normScratch;
        const dBeta = layer.gBias || normScratch + op.c * 4;
        const dx = wantInput ? spare : 0;
        const positions = rows * op.pixels;
        if (op.kind === "batchNorm" && together) batchNormBackward(l, delta, positions, dGamma, dBeta, dx);
        else if (op.kind === "batchNorm")
          k.batchNormBackward(delta, layer.xhat, positions, op.c, layer.weight, layer.invStd, dGamma, dBeta, dx);
        else k.layerNormBackward(delta, layer.xhat, layer.invStd, positions, op.c, layer.weight, dGamma, dBeta, dx);
      }
      if (!graph) [delta, spare] = [spare, delta];
      else route(l, rows, delta, spare);
    }
    return loss;
  }

  /**
   * Batch statistics across participants (Chan, Golub & LeVeque 1979, the pairwise update of mean and
   * M2 = n·variance, here over all participants at once): each publishes its slice's positions, mean and
   * biased variance; after they meet, each combines them in participant order (float64), so every
   * participant normalizes with the same whole-batch statistics.
   */
  function batchMoments(l: number, input: number, positions: number): void {
    const layer = layers[l];
    const C = (layer.op as { c: number }).c;
    const own = statistics[l][participant!.index];
    const mean = instance.f32(layer.mean, C);
    const variance = instance.f32(layer.variance, C);
    if (positions > 0) k.channelMoments(input, positions, C, layer.mean, layer.variance);
    own[0] = positions;
    own.set(mean, 1);
    own.set(variance, 1 + C);
    participant!.meet();
    let total = 0;
    for (const slot of statistics[l]) total += slot[0];
    batchPositions[l] = total;
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (const slot of statistics[l]) sum += slot[0] * slot[1 + c];
      const m = sum / total;
      let m2 = 0;
      for (const slot of statistics[l]) {
        const d = slot[1 + c] - m;
        m2 += slot[0] * (slot[1 + C + c] + d * d);
      }
      mean[c] = m;
      variance[c] = m2 / total;
    }
  }

  /**
   * Batch normalization's backward pass across participants: the slice's Σ dy and Σ dy·x̂ (dβ, dγ: these
   * stay the participant's part of the gradient, summed with the others' in `reduceGrads`) are published;
   * after they meet, dx uses the whole batch's sums, added in participant order.
   */
  function batchNormBackward(l: number, delta: number, positions: number, dGamma: number, dBeta: number, dx: number) {
    const layer = layers[l];
    const C = (layer.op as { c: number }).c;
    k.batchNormBackward(delta, layer.xhat, positions, C, layer.weight, layer.invStd, dGamma, dBeta, 0);
    const own = statistics[l][participant!.index];
    own.set(instance.f32(dBeta, C), 1 + 2 * C);
    own.set(instance.f32(dGamma, C), 1 + 3 * C);
    participant!.meet();
    if (!dx) return;
    const sumBeta = instance.f32(normTotals, C);
    const sumGamma = instance.f32(normTotals + C * 4, C);
    sumBeta.fill(0);
    sumGamma.fill(0);
    for (const slot of statistics[l])
      for (let c = 0; c < C; c++) {
        sumBeta[c] += slot[1 + 2 * C + c];
        sumGamma[c] += slot[1 + 3 * C + c];
      }
    k.batchNormDx(
      delta,
      layer.xhat,
      positions,
      C,
      layer.weight,
      layer.invStd,
      normTotals + C * 4,
      normTotals,
      batchPositions[l],
      dx,
    );
  }

  /**
   * Dice across participants: each publishes its slice's sums; after they meet, each adds everyone's in
   * participant order (float64), so every participant goes on with the same whole-batch figures.
   */
  function combineSums(slice: SegmentationSums): SegmentationSums {
    diceSums[participant!.index].set([slice.rows, slice.overlap, slice.total]);
    participant!.meet();
    const batch = { rows: 0, overlap: 0, total: 0 };
    for (const [rows, overlap, total] of diceSums) {
      batch.rows += rows;
      batch.overlap += overlap;
      batch.total += total;
    }
    return batch;
  }

  /** A graph layer's input gradients into its producers' sums: its own (in `spare`), a concat's halves, an add's. */
  function route(l: number, rows: number, delta: number, spare: number): void {
    const op = layers[l].op;
    const [a, b] = producers[l];
    if (op.kind === "concat") {
      const pixels = rows * op.pixels;
      k.splitChannels(delta, op.ca, op.cb, pixels, spare, deltaB);
      if (a >= 0 && needsGrad[a]) k.accumulate(gradOut[a], spare, pixels * op.ca);
      if (b >= 0 && needsGrad[b]) k.accumulate(gradOut[b], deltaB, pixels * op.cb);
    } else if (op.kind === "add") {
      if (a >= 0 && needsGrad[a]) k.accumulate(gradOut[a], delta, rows * op.size);
      if (b >= 0 && needsGrad[b]) k.accumulate(gradOut[b], delta, rows * op.size);
    } else if (a >= 0 && needsGrad[a]) {
      k.accumulate(gradOut[a], spare, rows * inputSize(op));
    }
  }

  return {
    params: instance.f32(paramsPtr, P),
    grads: instance.f32(gradsPtr, P),
    state: instance.f32(statePtr, S),
    anchor: instance.f32(anchorPtr, anchorPtr ? P : 0),
    correction: instance.f32(correctionPtr, correctionPtr ? P : 0),
    x: instance.f32(xPtr, R * spec.inputSize),
    labels: instance.f32(labelsPtr, R * labelWidth(spec)),
    inputWidth: spec.inputSize,
    labelWidth: labelWidth(spec),
    dropouts,
    computeGradients(rows, divisor, rowOffset = 0, seeds = []) {
      if (seeds.length < dropouts) throw new Error(`computeGradients needs ${dropouts} dropout seed(s)`);
      forward(rows, rowOffset, seeds);
      return backward(rows, divisor);
    },
    computeClippedGradients(rows, clipNorm, rowOffset = 0, seeds = []) {
      if (!clipper) throw new Error("computeClippedGradients needs a trainer made with clipping");
      if (seeds.length < dropouts) throw new Error(`computeClippedGradients needs ${dropouts} dropout seed(s)`);
      forward(rows, rowOffset, seeds);
      clipper.begin(rows);
      // Divisor 1: each sample's own loss, so each recorded delta row is that sample's gradient.
      const loss = backward(rows, 1, clipper);
      clipper.finish(clipNorm);
      return loss;
    },
    predict(rows) {
      if (rows > R) throw new Error(`predict handles at most ${R} rows, got ${rows}`);
      return instance.f32(forward(rows, 0), rows * spec.outputUnits);
    },
    reduceGrads() {
      for (let t = 1; t < model.grads.length; t++) k.accumulate(sumPtr, shareOf(model.grads[t]), n);
    },
    applyUpdate() {
      const gradsPtr = sumPtr;
      const paramsPtr = shareParams;
      if (anchorPtr) {
        k.axpy(n, options.fedproxMu, paramsPtr, gradsPtr);
        k.axpy(n, -options.fedproxMu, shareOf(anchorPtr), gradsPtr);
      }
      if (correctionPtr) k.axpy(n, 1, shareOf(correctionPtr), gradsPtr);
      if (o.decay > 0 && o.name === "adamw") k.scale(n, 1 - o.lr * o.decay, paramsPtr);
      else if (o.decay > 0) k.axpy(n, o.decay, paramsPtr, gradsPtr);
      steps++;
      switch (o.name) {
        case "sgd":
          if (o.momentum) k.momentum(n, o.lr, o.momentum, paramsPtr, gradsPtr, state[0]);
          else k.sgd(n, o.lr, paramsPtr, gradsPtr);
          break;
        case "adam":
        case "adamw":
          k.adam(
            n,
            o.lr,
            o.beta1,
            o.beta2,
            o.epsilon,
            1 - o.beta1 ** steps,
            1 - o.beta2 ** steps,
            paramsPtr,
            gradsPtr,
            state[0],
            state[1],
          );
          break;
        case "rmsprop":
          k.rmsprop(n, o.lr, 0.9, o.momentum, o.epsilon, paramsPtr, gradsPtr, state[0], state[1]);
          break;
        case "adagrad":
          k.adagrad(n, o.lr, backendEpsilon, paramsPtr, gradsPtr, state[0]);
          break;
      }
    },
    reset() {
      instance.f32(gradsPtr, P).fill(0);
      initialState();
      steps = 0;
    },
  };
}

/**
 * Whether a conv2d layer's input gradient is computed as a convolution of its output gradient
 * (rotateFilters) rather than as a patch gradient summed back by col2im: for stride 1 (a strided one
 * would need a dilated output gradient) and fewer filters than input channels, where the patch
 * gradient — kh·kw·c values per output position, from a product whose inner dimension is only the
 * filter count — is the wider of the two (a U-Net's decoder after a concatenation, issue 28).
 */
export function byFullConvolution(op: Conv2dOp): boolean {
  return op.sh === 1 && op.sw === 1 && op.filters < op.c;
}

/**
 * Whether a conv2d layer runs as a direct convolution (assembly/direct-conv.ts: no patch matrix, a 6 × 8
 * register block reading each window from a zero-padded copy of the input): for 8 to 32 filters, where
 * the patch matrix is many times the input's size and the multiply's blocks are narrow (issue 28). The
 * U-Net's step took 1.55× less CPU with it (8 and 16 filters); 32 filters too made the bench's CNN's step
 * about 10% cheaper (its conv32) and left the U-Net's unchanged.
 */
export function directConvolution(op: Conv2dOp): boolean {
  return op.filters % 8 === 0 && op.filters <= 32;
}

/**
 * Whether a conv2d layer's full-convolution input gradient (byFullConvolution) runs as a direct
 * convolution too: its filters are the layer's input channels, so those must be a multiple of 8.
 */
export function directFullConvolution(op: Conv2dOp): boolean {
  return byFullConvolution(op) && op.c % 8 === 0;
}

/** The height and width of a direct convolution's zero-padded input: exactly what its windows cover. */
function paddedShape(op: Conv2dOp): [number, number] {
  return [(op.oh - 1) * op.sh + op.kh, (op.ow - 1) * op.sw + op.kw];
}

function paddedSize(op: Conv2dOp): number {
  const [hp, wp] = paddedShape(op);
  return hp * wp * op.c;
}

/** The output gradient's padded height and width for the full convolution (stride 1) back to the input. */
function fullPaddedShape(op: Conv2dOp): [number, number] {
  return [op.h + op.kh - 1, op.w + op.kw - 1];
}

function fullPaddedSize(op: Conv2dOp): number {
  const [hp, wp] = fullPaddedShape(op);
  return hp * wp * op.filters;
}

/**
 * Whether a conv2d layer's filter gradient is computed transposed (deltaᵀ·patches, then turned): with 16
 * filters or fewer, patchesᵀ·delta is a product only that many columns wide whose left operand is read
 * across its rows, one cache line per term; transposed, it is kh·kw·c columns wide (a multiple of 8 here,
 * the multiply's block) with both operands read in order.
 */
export function transposedFilterGradient(op: Conv2dOp): boolean {
  return op.filters <= 16 && (op.kh * op.kw * op.c) % 8 === 0;
}

/**
 * Filters [kh, kw, c, filters] (HWIO) turned 180° with in and out channels swapped, [kh, kw, filters, c],
 * written at `to`: the filters of the convolution that maps an output gradient to the input gradient.
 */
function rotateFilters(instance: KernelInstance, op: Conv2dOp, from: number, to: number): void {
  const { kh, kw, c, filters } = op;
  const w = instance.f32(from, kh * kw * c * filters);
  const rotated = instance.f32(to, kh * kw * c * filters);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const source = ((kh - 1 - i) * kw + (kw - 1 - j)) * c * filters;
      const target = (i * kw + j) * filters * c;
      for (let ch = 0; ch < c; ch++) {
        for (let f = 0; f < filters; f++) rotated[target + f * c + ch] = w[source + ch * filters + f];
      }
    }
  }
}
