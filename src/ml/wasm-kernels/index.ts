import "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig } from "@tensorflow/tfjs";
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs";
import { conv2DBackpropFilterConfig } from "./conv2d-backprop-filter.js";
import { maxPoolGradConfig } from "./max-pool-grad.js";

/**
 * Kernels that CNN training needs on the wasm backend of tfjs 4.22: Conv2DBackpropFilter is missing,
 * and the package's MaxPoolGrad drops the gradient of every window whose maximum is not positive.
 */
const trainingKernels: KernelConfig[] = [conv2DBackpropFilterConfig, maxPoolGradConfig];

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
