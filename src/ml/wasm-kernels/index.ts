import "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig } from "@tensorflow/tfjs";
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs";
import {
  batchMatMulConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
} from "./fast-kernels.js";

/**
 * Kernels that training needs on the wasm backend of tfjs 4.22, for models outside fbm's own engine:
 * Conv2DBackpropFilter is missing; the package's MaxPoolGrad drops the gradient of every window whose
 * maximum is not positive; its Conv2DBackpropInput and transposed BatchMatMul are far slower than the
 * forward pass. All four run on fbm's SIMD kernels (fast-kernels.ts).
 */
const trainingKernels: KernelConfig[] = [
  batchMatMulConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
];

/**
 * Registers (or replaces) the wasm kernels that CNN training needs and returns their names.
 * Idempotent; may be called before or after `tf.setBackend("wasm")`.
 */
export function registerWasmTrainingKernels(): string[] {
  for (const config of trainingKernels) {
    const current = getKernel(config.kernelName, "wasm");
    if (current?.kernelFunc === config.kernelFunc) continue;
    // Unregister first so that replacing the package's kernel logs no "already registered" warning.
    if (current !== undefined) unregisterKernel(config.kernelName, "wasm");
    registerKernel(config);
  }
  return trainingKernels.map((config) => config.kernelName);
}
