// AssemblyScript entry of fbm's training kernels: `npm run build:kernels` compiles this folder to
// WebAssembly SIMD and writes src/ml/engine/kernels-wasm.ts (and, with relaxed SIMD's fused multiply-add
// in the matrix multiply, kernels-relaxed-wasm.ts). Memory is laid out by the TypeScript side;
// nothing here allocates.
export { gemm, transpose } from "./gemm";
export {
  activationBackward, avgPool, avgPoolBackward, biasActivation, col2im, columnSums, dropout, im2col, maxPool, maxPoolBackward, multiply, softmaxBackward,
} from "./layers";
export { convFilterGradient, convForward, padImage } from "./direct-conv";
export { accumulate, add, concatChannels, splitChannels, upsample, upsampleBackward } from "./graph-ops";
export {
  batchNormBackward, batchNormDx, channelMoments, groupNorm, groupNormBackward, layerNorm, layerNormBackward, movingAverage, normalize,
} from "./normalize";
export { avgPool3d, avgPool3dBackward, col2im3d, im2col3d, maxPool3d } from "./volumes";
export { adagrad, adam, axpy, lossForward, momentum, rmsprop, scale, sgd } from "./loss-optim";

/** First byte the TypeScript side may use: everything below belongs to static data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
