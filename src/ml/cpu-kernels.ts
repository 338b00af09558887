import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs";

/**
 * tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad (the gradient of `upSampling2d`) reads each sample's
 * upstream gradient at the offset of that sample in the *input* images, so every sample after a batch's
 * first receives another part of the batch's gradient. This one scatters each upstream value to the input
 * pixel the forward pass copied it from, with the same rounding rules (alignCorners; no half-pixel centres,
 * as the cpu kernel's gradient assumes).
 */
interface CpuBackend {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}

function resizeNearestNeighborGrad(args: {
  inputs: { images: TensorInfo; dy: TensorInfo };
  backend: unknown;
  attrs: { alignCorners?: boolean };
}): TensorInfo {
  const { images, dy } = args.inputs;
  const backend = args.backend as CpuBackend;
  const alignCorners = args.attrs.alignCorners === true;
  const [batch, xHeight, xWidth, depth] = images.shape;
  const [, yHeight, yWidth] = dy.shape;
  const dyValues = backend.data.get(dy.dataId).values;
  const output = new Float32Array(batch * xHeight * xWidth * depth);
  const scale = (x: number, y: number) => (alignCorners && y > 1 ? (x - 1) / (y - 1) : x / y);
  const source = (i: number, s: number, x: number) =>
    Math.min(x - 1, alignCorners ? Math.round(i * s) : Math.floor(i * s));
  const rows = Int32Array.from({ length: yHeight }, (_, r) => source(r, scale(xHeight, yHeight), xHeight));
  const cols = Int32Array.from({ length: yWidth }, (_, c) => source(c, scale(xWidth, yWidth), xWidth));
  let at = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < yHeight; r++) {
      for (let c = 0; c < yWidth; c++) {
        const to = ((b * xHeight + rows[r]) * xWidth + cols[c]) * depth;
        for (let d = 0; d < depth; d++) output[to + d] += dyValues[at++];
      }
    }
  }
  return backend.makeTensorInfo(images.shape, images.dtype, output);
}

const fixes: KernelConfig[] = [
  {
    kernelName: "ResizeNearestNeighborGrad",
    backendName: "cpu",
    kernelFunc: resizeNearestNeighborGrad as unknown as KernelConfig["kernelFunc"],
  },
];

/** Registers (or replaces) the corrected cpu kernels. Idempotent; may be called before or after setBackend. */
export function registerCpuKernelFixes(): void {
  for (const config of fixes) {
    const current = getKernel(config.kernelName, "cpu");
    if (current?.kernelFunc === config.kernelFunc) continue;
    // Unregister first so that replacing the package's kernel logs no "already registered" warning.
    if (current !== undefined) unregisterKernel(config.kernelName, "cpu");
    registerKernel(config);
  }
}
