import { clipFactor } from "./dp-step.js";
import type { KernelInstance } from "./kernels.js";
import type { Conv2dOp, DenseOp } from "./network.js";

/** A weighted layer as the trainer laid it out (byte pointers into the kernels' memory). */
export interface WeightedLayer {
  op: DenseOp | Conv2dOp;
  /** The layer's input activations (the previous layer's output, or the batch). */
  input: number;
  bias: number;
  gWeight: number;
  gBias: number;
}

export interface ClipContext {
  instance: KernelInstance;
  maxRows: number;
  /** Fills the layer's im2col patches for `rows` rows and returns their pointer. */
  patches(layer: WeightedLayer, rows: number): number;
  pack: number;
}

/**
 * DP-SGD's per-sample clipping without a per-sample backward pass ("book-keeping", Bu et al. 2023,
 * "Differentially Private Optimization on Large Model at Small Cost", Section 3): one backward pass records
 * each weighted layer's output gradient and each sample's gradient norm; once every norm is known, each
 * sample's output gradients are scaled by its clip factor min(1, C/‖g_i‖) and one batched product per layer
 * gives Σ_i clip_i·g_i. Per-sample norms: dense layers by ‖a_i‖²·‖δ_i‖² (Goodfellow 2015, "Efficient
 * per-example gradient computations"), convolutions by materialising each sample's filter gradient
 * P_iᵀ·δ_i from its im2col patches (the same arithmetic as the batched filter gradient, one sample at a time).
 */
export interface PerSampleClipper {
  /** Starts a batch of `rows` samples. */
  begin(rows: number): void;
  /** Called in the backward pass with the layer's ∂loss/∂pre-activation (per-sample losses, undivided). */
  record(index: number, layer: WeightedLayer, delta: number): void;
  /** Writes Σ_i min(1, C/‖g_i‖)·g_i into the layers' gradients; returns how many samples were clipped. */
  finish(clipNorm: number): number;
  /** Each sample's gradient norm of the last batch (before clipping). */
  readonly norms: Float64Array;
}

export function createPerSampleClipper(layers: WeightedLayer[], context: ClipContext): PerSampleClipper {
  const { instance, maxRows: R, pack } = context;
  const k = instance.kernels;
  const stores = layers.map((l) => instance.alloc(R * outputsOf(l.op) * 4));
  const largestFilter = Math.max(0, ...layers.map((l) => (l.op.kind === "conv2d" ? filterSize(l.op) : 0)));
  const scratch = instance.alloc(Math.max(largestFilter, 1) * 4);
  const biasScratch = instance.alloc(Math.max(1, ...layers.map((l) => units(l.op))) * 4);
  const norms = new Float64Array(R);
  const factors = new Float32Array(R);
  let rows = 0;

  const sumSquares = (ptr: number, n: number) => {
    const v = instance.f32(ptr, n);
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i] * v[i];
    return s;
  };

  return {
    norms,
    begin(n) {
      rows = n;
      norms.fill(0, 0, n);
    },
    record(index, layer, delta) {
      const op = layer.op;
      const per = outputsOf(op);
      instance.f32(stores[index], rows * per).set(instance.f32(delta, rows * per));
      if (op.kind === "dense") {
        for (let i = 0; i < rows; i++) {
          const g = sumSquares(delta + i * per * 4, per);
          const a = sumSquares(layer.input + i * op.inputs * 4, op.inputs);
          norms[i] += a * g + (layer.bias ? g : 0);
        }
        return;
      }
      const K = op.kh * op.kw * op.c;
      const T = op.oh * op.ow;
      const patches = context.patches(layer, rows);
      for (let i = 0; i < rows; i++) {
        const d = delta + i * T * op.filters * 4;
        k.gemm(K, op.filters, T, patches + i * T * K * 4, 1, K, d, op.filters, scratch, op.filters, 0, pack);
        norms[i] += sumSquares(scratch, K * op.filters);
        if (layer.bias) {
          k.columnSums(d, T, op.filters, biasScratch);
          norms[i] += sumSquares(biasScratch, op.filters);
        }
      }
    },
    finish(clipNorm) {
      let clipped = 0;
      for (let i = 0; i < rows; i++) {
        const norm = Math.sqrt(norms[i]);
        factors[i] = clipFactor(norm, clipNorm);
        if (norm > clipNorm) clipped++;
      }
      for (const [index, layer] of layers.entries()) {
        const op = layer.op;
        const per = outputsOf(op);
        const store = stores[index];
        for (let i = 0; i < rows; i++) if (factors[i] !== 1) k.scale(per, factors[i], store + i * per * 4);
        if (op.kind === "dense") {
          const { inputs, units: n } = op;
          k.gemm(inputs, n, rows, layer.input, 1, inputs, store, n, layer.gWeight, n, 0, pack);
          if (layer.bias) k.columnSums(store, rows, n, layer.gBias);
        } else {
          const K = op.kh * op.kw * op.c;
          const M = rows * op.oh * op.ow;
          const patches = context.patches(layer, rows);
          k.gemm(K, op.filters, M, patches, 1, K, store, op.filters, layer.gWeight, op.filters, 0, pack);
          if (layer.bias) k.columnSums(store, M, op.filters, layer.gBias);
        }
      }
      return clipped;
    },
  };
}

function outputsOf(op: DenseOp | Conv2dOp): number {
  return op.kind === "dense" ? op.units : op.oh * op.ow * op.filters;
}

function units(op: DenseOp | Conv2dOp): number {
  return op.kind === "dense" ? op.units : op.filters;
}

function filterSize(op: Conv2dOp): number {
  return op.kh * op.kw * op.c * op.filters;
}
