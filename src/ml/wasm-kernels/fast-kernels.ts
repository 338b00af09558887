import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  TensorInfo,
} from "@tensorflow/tfjs";
import {
  BatchMatMul,
  backend_util,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  MaxPoolGrad,
} from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { createKernelInstance, type KernelInstance } from "../engine/kernels.js";

/**
 * tfjs-wasm kernels that models outside fbm's own engine (batch normalization, …) still train through:
 * transposed matmuls, both convolution gradients and the pooling gradient run on fbm's SIMD kernels
 * (src/ml/engine/assembly)
 * instead of tfjs-wasm's slow paths. Operands are copied into the kernels' memory and the result back:
 * O(size) copies beside O(size^1.5) arithmetic.
 */

let scratch: KernelInstance | undefined;

/** What tfjs hands a kernel function: its inputs by name, the backend and the op's attributes. */
interface KernelArgs<Inputs, Attrs> {
  inputs: Inputs;
  backend: BackendWasm;
  attrs: Attrs;
}

/** Copies inputs in, runs `work` with their pointers and an output pointer, copies the output out. */
function onKernels(
  backend: BackendWasm,
  inputs: TensorInfo[],
  outShape: number[],
  work: (k: KernelInstance, ptrs: number[], out: number, pack: number) => void,
): TensorInfo {
  scratch ??= createKernelInstance();
  const k = scratch;
  const mark = k.top();
  try {
    const sizes = inputs.map((t) => t.shape.reduce((a, b) => a * b, 1));
    const outSize = outShape.reduce((a, b) => a * b, 1);
    const ptrs = sizes.map((n) => k.alloc(4 * Math.max(n, 1)));
    const out = k.alloc(4 * Math.max(outSize, 1));
    const pack = k.alloc(4 * 256 * 8);
    for (const [i, t] of inputs.entries()) k.f32(ptrs[i], sizes[i]).set(backend.typedArrayFromHeap(t) as Float32Array);
    work(k, ptrs, out, pack);
    const outInfo = backend.makeOutput(outShape, "float32");
    (backend.typedArrayFromHeap(outInfo) as Float32Array).set(k.f32(out, outSize));
    return outInfo;
  } finally {
    k.release(mark);
  }
}

const originalConfig = getKernel(BatchMatMul, "wasm");
const original = originalConfig?.kernelFunc;

/** BatchMatMul with a transposed operand (the backward pass of every dense layer); plain ones stay on XNNPACK. */
function batchMatMul(args: KernelArgs<{ a: TensorInfo; b: TensorInfo }, BatchMatMulAttrs>): TensorInfo {
  const {
    inputs: { a, b },
    backend,
    attrs,
  } = args;
  const { transposeA, transposeB } = attrs;
  if (
    (!transposeA && !transposeB) ||
    a.shape.length !== 3 ||
    b.shape.length !== 3 ||
    a.dtype !== "float32" ||
    b.dtype !== "float32"
  ) {
    return (original as KernelFunc)(args as never) as TensorInfo;
  }
  const [batchA, rowsA, colsA] = a.shape;
  const [batchB, rowsB, colsB] = b.shape;
  const batch = Math.max(batchA, batchB);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1))
    return (original as KernelFunc)(args as never) as TensorInfo;
  const [M, K] = transposeA ? [colsA, rowsA] : [rowsA, colsA];
  const N = transposeB ? rowsB : colsB;
  return onKernels(backend, [a, b], [batch, M, N], (k, [pa, pb], out, pack) => {
    const bt = transposeB ? k.alloc(4 * K * N) : 0;
    for (let i = 0; i < batch; i++) {
      const ai = pa + 4 * (batchA === 1 ? 0 : i) * rowsA * colsA;
      const bi = pb + 4 * (batchB === 1 ? 0 : i) * rowsB * colsB;
      // Bᵀ is made contiguous once; Aᵀ is read in place with swapped strides.
      let bMatrix = bi;
      if (transposeB) {
        k.kernels.transpose(bi, rowsB, colsB, bt);
        bMatrix = bt;
      }
      const [ars, acs] = transposeA ? [1, colsA] : [colsA, 1];
      k.kernels.gemm(M, N, K, ai, ars, acs, bMatrix, N, out + 4 * i * M * N, N, 0, pack);
    }
  });
}

/**
 * A convolution gradient's geometry (NHWC only) and its patch matrix: M rows (one per output pixel), K
 * columns (one per kernel tap and channel).
 */
function convGeometry(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
): { info: backend_util.Conv2DInfo; K: number; M: number } {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (dataFormat !== "channelsLast")
    throw new Error(`${kernel} on the wasm backend supports NHWC only, not "${attrs.dataFormat}"`);
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  return {
    info,
    K: info.filterHeight * info.filterWidth * info.inChannels,
    M: info.batchSize * info.outHeight * info.outWidth,
  };
}

/** A window's geometry as im2col, col2im and maxPool take it (a pooling's info has the same fields). */
function windowArgs(info: backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.outHeight,
    info.outWidth,
  ];
}

/** dW = patches(x)ᵀ · dy. */
function conv2DBackpropFilter({
  inputs: { x, dy },
  backend,
  attrs,
}: KernelArgs<{ x: TensorInfo; dy: TensorInfo }, Conv2DBackpropFilterAttrs>): TensorInfo {
  const { info, K, M } = convGeometry(Conv2DBackpropFilter, x.shape, attrs.filterShape, attrs);
  return onKernels(backend, [x, dy], info.filterShape, (k, [px, pdy], out, pack) => {
    const patches = k.alloc(4 * M * K);
    k.kernels.im2col(px, ...windowArgs(info), patches);
    k.kernels.gemm(K, info.outChannels, M, patches, 1, K, pdy, info.outChannels, out, info.outChannels, 0, pack);
  });
}

/** dx = col2im(dy · Wᵀ). */
function conv2DBackpropInput({
  inputs: { dy, filter },
  backend,
  attrs,
}: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, Conv2DBackpropInputAttrs>): TensorInfo {
  const { info, K, M } = convGeometry(Conv2DBackpropInput, attrs.inputShape, filter.shape, attrs);
  return onKernels(backend, [dy, filter], attrs.inputShape, (k, [pdy, pw], out, pack) => {
    const wt = k.alloc(4 * K * info.outChannels);
    const dcols = k.alloc(4 * M * K);
    k.kernels.transpose(pw, K, info.outChannels, wt);
    k.kernels.gemm(M, K, info.outChannels, pdy, info.outChannels, 1, wt, K, dcols, K, 0, pack);
    k.kernels.col2im(dcols, ...windowArgs(info), out);
  });
}

/** Keeps the package's setup, which binds the XNNPACK matmul that untransposed products still use. */
/**
 * Gradient of maxPool: each dy value goes to the first (row-major) maximum of its window, as on the cpu
 * backend (tfjs-backend-wasm 4.22's own kernel routes nothing from a window whose maximum is ≤ 0).
 */
function maxPoolGrad({
  inputs: { dy, input },
  backend,
  attrs,
}: KernelArgs<{ dy: TensorInfo; input: TensorInfo }, MaxPoolGradAttrs>): TensorInfo {
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const inputs = input.shape.reduce((a, b) => a * b, 1);
  const outputs = dy.shape.reduce((a, b) => a * b, 1);
  return onKernels(backend, [input, dy], input.shape, (k, [px, pdy], out) => {
    const y = k.alloc(4 * outputs);
    const argmax = k.alloc(4 * outputs);
    k.kernels.maxPool(px, ...windowArgs(info), y, argmax);
    k.kernels.maxPoolBackward(pdy, argmax, outputs, out, inputs);
  });
}

/** A wasm-backend kernel registration for one of the functions above (tfjs types them by its generic KernelFunc). */
function wasmKernel<Args>(kernelName: string, kernelFunc: (args: Args) => TensorInfo): KernelConfig {
  return { kernelName, backendName: "wasm", kernelFunc: kernelFunc as unknown as KernelFunc };
}

export const maxPoolGradConfig: KernelConfig = wasmKernel(MaxPoolGrad, maxPoolGrad);
export const batchMatMulConfig: KernelConfig = {
  ...wasmKernel(BatchMatMul, batchMatMul),
  ...(originalConfig?.setupFunc ? { setupFunc: originalConfig.setupFunc } : {}),
};
export const conv2DBackpropFilterConfig: KernelConfig = wasmKernel(Conv2DBackpropFilter, conv2DBackpropFilter);
export const conv2DBackpropInputConfig: KernelConfig = wasmKernel(Conv2DBackpropInput, conv2DBackpropInput);
