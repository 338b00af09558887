import type { Conv2DBackpropFilterAttrs, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { backend_util, Conv2DBackpropFilter } from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { heapViews } from "./heap-views.js";
import { toPlanar } from "./planar.js";

/**
 * Gradient of conv2d with respect to its filter, NHWC, on the wasm heap:
 * dW[wR, wC, d1, d2] = Σ over batch and output pixels of x[b, xR, xC, d1] · dy[b, yR, yC, d2].
 * Each sum is a double-precision dot product over channel planes, in the cpu backend's order
 * (batch, row, column), so results agree with the cpu backend to the last float32 bit or so.
 */
export function conv2DBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const {
    inputs: { x, dy },
    backend,
    attrs,
  } = args;
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (dataFormat !== "channelsLast") {
    throw new Error(`Conv2DBackpropFilter on the wasm backend supports NHWC only, not "${attrs.dataFormat}"`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  const {
    inputs: [xNhwc, dyNhwc],
    output: dW,
    outInfo,
  } = heapViews(backend, [x, dy], info.filterShape);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const inPlane = inHeight * inWidth;
  const outPlane = outHeight * outWidth;
  const xs = toPlanar(xNhwc, batchSize, inPlane, inChannels);
  const dys = toPlanar(dyNhwc, batchSize, outPlane, outChannels);

  for (let wR = 0; wR < filterHeight; ++wR) {
    // Output rows whose input row (yR * stride + wR - top) lies inside the image.
    const yRMin = Math.max(0, Math.ceil((top - wR) / strideHeight));
    const yRMax = Math.min(outHeight, Math.ceil((inHeight + top - wR) / strideHeight));
    for (let wC = 0; wC < filterWidth; ++wC) {
      const yCMin = Math.max(0, Math.ceil((left - wC) / strideWidth));
      const yCMax = Math.min(outWidth, Math.ceil((inWidth + left - wC) / strideWidth));
      const tapBase = (wR * filterWidth + wC) * inChannels * outChannels;
      for (let d1 = 0; d1 < inChannels; ++d1) {
        const dWRow = tapBase + d1 * outChannels;
        // Four output channels at a time: each x value loaded feeds four sums.
        let d2 = 0;
        for (; d2 + 4 <= outChannels; d2 += 4) {
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let b = 0; b < batchSize; ++b) {
            const xPlane = (b * inChannels + d1) * inPlane + wC - left;
            const dyPlane = (b * outChannels + d2) * outPlane;
            for (let yR = yRMin; yR < yRMax; ++yR) {
              const xRow = xPlane + (yR * strideHeight + wR - top) * inWidth;
              const dyRow = dyPlane + yR * outWidth;
              for (let yC = yCMin; yC < yCMax; ++yC) {
                const xv = xs[xRow + yC * strideWidth];
                const at = dyRow + yC;
                s0 += xv * dys[at];
                s1 += xv * dys[at + outPlane];
                s2 += xv * dys[at + 2 * outPlane];
                s3 += xv * dys[at + 3 * outPlane];
              }
            }
          }
          dW[dWRow + d2] = s0;
          dW[dWRow + d2 + 1] = s1;
          dW[dWRow + d2 + 2] = s2;
          dW[dWRow + d2 + 3] = s3;
        }
        for (; d2 < outChannels; ++d2) {
          let sum = 0;
          for (let b = 0; b < batchSize; ++b) {
            const xPlane = (b * inChannels + d1) * inPlane + wC - left;
            const dyPlane = (b * outChannels + d2) * outPlane;
            for (let yR = yRMin; yR < yRMax; ++yR) {
              const xRow = xPlane + (yR * strideHeight + wR - top) * inWidth;
              const dyRow = dyPlane + yR * outWidth;
              for (let yC = yCMin; yC < yCMax; ++yC) sum += xs[xRow + yC * strideWidth] * dys[dyRow + yC];
            }
          }
          dW[dWRow + d2] = sum;
        }
      }
    }
  }
  return outInfo;
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
