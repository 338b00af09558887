import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from "@tensorflow/tfjs";
import { backend_util, MaxPoolGrad } from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { heapViews } from "./heap-views.js";

/**
 * Gradient of maxPool, NHWC: each dy value goes to the first (row-major) maximum of its window,
 * as on the cpu backend. Replaces the wasm package's kernel, which routes no gradient from a window
 * whose maximum is negative or zero (tfjs-backend-wasm 4.22).
 */
export function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: BackendWasm;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const {
    inputs: { dy, input },
    backend,
    attrs,
  } = args;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const {
    inputs: [xs, dys],
    output: dx,
    outInfo,
  } = heapViews(backend, [input, dy], input.shape);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight, effectiveFilterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const maxValue = new Float64Array(inChannels);
  const maxIndex = new Int32Array(inChannels);

  for (let b = 0; b < batchSize; ++b) {
    for (let yR = 0; yR < outHeight; ++yR) {
      const xRCorner = yR * strideHeight - top;
      const xRMin = Math.max(0, xRCorner);
      const xRMax = Math.min(inHeight, xRCorner + effectiveFilterHeight);
      for (let yC = 0; yC < outWidth; ++yC) {
        const xCCorner = yC * strideWidth - left;
        const xCMin = Math.max(0, xCCorner);
        const xCMax = Math.min(inWidth, xCCorner + effectiveFilterWidth);
        maxValue.fill(-Infinity);
        maxIndex.fill(-1);
        for (let xR = xRMin; xR < xRMax; ++xR) {
          for (let xC = xCMin; xC < xCMax; ++xC) {
            const xBase = ((b * inHeight + xR) * inWidth + xC) * inChannels;
            for (let d = 0; d < inChannels; ++d) {
              const v = xs[xBase + d];
              if (v > maxValue[d]) {
                maxValue[d] = v;
                maxIndex[d] = xBase + d;
              }
            }
          }
        }
        const dyBase = ((b * outHeight + yR) * outWidth + yC) * inChannels;
        for (let d = 0; d < inChannels; ++d) {
          const at = maxIndex[d];
          if (at >= 0) dx[at] += dys[dyBase + d];
        }
      }
    }
  }
  return outInfo;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: "wasm",
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
