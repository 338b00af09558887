import { setFlagsFromString } from "node:v8";
import { InputError } from "../../common/errors.js";
import { kernelsRelaxedWasmBase64 } from "./kernels-relaxed-wasm.js";
import { kernelsWasmBase64 } from "./kernels-wasm.js";

/**
 * fbm's own WebAssembly SIMD training kernels (source: ./assembly/, built by `npm run build:kernels`).
 * Each instance has its own memory, or shares one with the other threads of a data-parallel run; the
 * caller lays buffers out with `alloc` and reads them through views.
 * Pointers are byte offsets into that memory.
 */
export interface Kernels {
  gemm(
    M: number,
    N: number,
    K: number,
    a: number,
    ars: number,
    acs: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    beta: number,
    pack: number,
  ): void;
  transpose(src: number, rows: number, cols: number, dst: number): void;
  biasActivation(y: number, rows: number, cols: number, bias: number, act: number): void;
  activationBackward(dz: number, y: number, n: number, act: number): void;
  softmaxBackward(dy: number, y: number, rows: number, cols: number, dz: number): void;
  columnSums(dz: number, rows: number, cols: number, db: number): void;
  im2col(x: number, ...shape: number[]): void;
  col2im(dcols: number, ...shape: number[]): void;
  maxPool(x: number, ...shapeAndOutputs: number[]): void;
  /**
   * Direct convolution for a multiple of 8 filters (assembly/direct-conv.ts): the input zero-padded
   * (batch, H, W, C, top, left, padded height and width), then the forward pass and the filter gradient
   * over it (padded input, batch, Hp, Wp, C, kh, kw, strides, output size, then weights or output
   * gradient, filters, output).
   */
  padImage(x: number, ...shapeAndOutput: number[]): void;
  convForward(xp: number, ...shapeAndOutput: number[]): void;
  convFilterGradient(xp: number, ...shapeAndOutput: number[]): void;
  avgPool(x: number, ...shapeAndOutput: number[]): void;
  avgPoolBackward(dy: number, ...shapeAndOutput: number[]): void;
  maxPoolBackward(dy: number, argmax: number, outputs: number, dx: number, inputs: number): void;
  /** 3-D windows (assembly/volumes.ts): NDHWC shapes, then depth/height/width windows, strides, pads, outputs. */
  im2col3d(x: number, ...shape: number[]): void;
  col2im3d(dcols: number, ...shape: number[]): void;
  maxPool3d(x: number, ...shapeAndOutputs: number[]): void;
  avgPool3d(x: number, ...shapeAndOutput: number[]): void;
  avgPool3dBackward(dy: number, ...shapeAndOutput: number[]): void;
  /** Graph operations (assembly/graph-ops.ts). */
  upsample(x: number, ...shapeAndOutput: number[]): void;
  upsampleBackward(dy: number, ...shapeAndOutput: number[]): void;
  concatChannels(a: number, ca: number, b: number, cb: number, pixels: number, out: number): void;
  splitChannels(d: number, ca: number, cb: number, pixels: number, da: number, db: number): void;
  add(a: number, b: number, n: number, out: number): void;
  accumulate(to: number, from: number, n: number): void;
  /** Normalization (assembly/normalize.ts): channels-last rows of C values. */
  channelMoments(x: number, rows: number, C: number, mean: number, variance: number): void;
  normalize(
    x: number,
    rows: number,
    C: number,
    mean: number,
    variance: number,
    eps: number,
    invStd: number,
    gamma: number,
    beta: number,
    xhat: number,
    y: number,
  ): void;
  batchNormBackward(
    dy: number,
    xhat: number,
    rows: number,
    C: number,
    gamma: number,
    invStd: number,
    dgamma: number,
    dbeta: number,
    dx: number,
  ): void;
  batchNormDx(
    dy: number,
    xhat: number,
    rows: number,
    C: number,
    gamma: number,
    invStd: number,
    dgamma: number,
    dbeta: number,
    n: number,
    dx: number,
  ): void;
  movingAverage(n: number, momentum: number, moving: number, value: number): void;
  layerNorm(
    x: number,
    rows: number,
    C: number,
    eps: number,
    gamma: number,
    beta: number,
    xhat: number,
    invStd: number,
    y: number,
  ): void;
  layerNormBackward(
    dy: number,
    xhat: number,
    invStd: number,
    rows: number,
    C: number,
    gamma: number,
    dgamma: number,
    dbeta: number,
    dx: number,
  ): void;
  /** Group normalization per (sample, group): samples, positions per sample, channels, groups, then as layerNorm. */
  groupNorm(
    x: number,
    samples: number,
    pixels: number,
    C: number,
    G: number,
    eps: number,
    gamma: number,
    beta: number,
    xhat: number,
    invStd: number,
    y: number,
  ): void;
  groupNormBackward(
    dy: number,
    xhat: number,
    invStd: number,
    samples: number,
    pixels: number,
    C: number,
    G: number,
    gamma: number,
    dgamma: number,
    dbeta: number,
    dx: number,
  ): void;
  dropout(
    x: number,
    rows: number,
    cols: number,
    rate: number,
    seed: number,
    rowOffset: number,
    out: number,
    mask: number,
  ): void;
  multiply(a: number, b: number, n: number, out: number): void;
  lossForward(kind: number, p: number, y: number, rows: number, units: number, divisor: number, dp: number): number;
  axpy(n: number, alpha: number, x: number, y: number): void;
  scale(n: number, s: number, x: number): void;
  sgd(n: number, lr: number, w: number, g: number): void;
  momentum(n: number, lr: number, m: number, w: number, g: number, acc: number): void;
  adam(
    n: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    c1: number,
    c2: number,
    w: number,
    g: number,
    m: number,
    v: number,
  ): void;
  rmsprop(
    n: number,
    lr: number,
    rho: number,
    mu: number,
    eps: number,
    w: number,
    g: number,
    ms: number,
    mom: number,
  ): void;
  adagrad(n: number, lr: number, eps: number, w: number, g: number, acc: number): void;
}

export interface KernelInstance {
  readonly kernels: Kernels;
  /** The build it runs (the workers of a data-parallel run take the training thread's). */
  readonly variant: KernelsVariant;
  /** The instance's memory (shared: see `createKernelMemory`). */
  readonly memory: WebAssembly.Memory;
  /** Reserves `bytes` (16-byte aligned), growing the memory as needed; returns the pointer. */
  alloc(bytes: number): number;
  /** Frees everything reserved since `mark` (a value `alloc` returned or `top()`); memory stays grown. */
  release(mark: number): void;
  /** The next free byte. */
  top(): number;
  /** A float32 view of `length` values at `ptr` (re-take views after `alloc`: growing detaches them). */
  f32(ptr: number, length: number): Float32Array;
  i32(ptr: number, length: number): Int32Array;
}

/**
 * The two builds of the kernels (scripts/build-kernels.ts): `relaxed-simd` multiplies matrices with fused
 * multiply-adds (f32x4.relaxed_madd, assembly/gemm.ts), `simd` with a multiply and an add. Each gives the
 * same results run after run and on any thread count; the two differ by float rounding.
 */
export type KernelsVariant = "relaxed-simd" | "simd";

const variantBytes: Record<KernelsVariant, string> = {
  "relaxed-simd": kernelsRelaxedWasmBase64,
  simd: kernelsWasmBase64,
};
let chosen: KernelsVariant | undefined;
const compiled = new Map<KernelsVariant, WebAssembly.Module>();

/**
 * The build this process trains with: `relaxed-simd` where the runtime accepts it, unless `FBM_KERNELS=simd`
 * asks for the plain one. Node 20's V8 has relaxed SIMD behind a flag, which is process-wide and read when
 * a module is validated or compiled, so setting it here (before the first kernels module is compiled) turns
 * it on for every thread; later runtimes ship it and accept the module as it is. The flag changes nothing
 * for a module that does not use relaxed SIMD. Decided once per thread; the workers of a data-parallel run
 * instantiate the training thread's build whatever they would choose (WorkerInit.variant), so every
 * participant of a step computes alike.
 */
export function kernelsVariant(): KernelsVariant {
  if (chosen) return chosen;
  const forced = process.env.FBM_KERNELS?.trim();
  if (forced && forced !== "simd" && forced !== "relaxed-simd")
    throw new InputError(`Unknown kernels build "${forced}" (FBM_KERNELS): use relaxed-simd or simd`);
  chosen = forced === "simd" ? "simd" : relaxedSimdAvailable() ? "relaxed-simd" : "simd";
  return chosen;
}

/** Whether this runtime validates the relaxed-SIMD build, turning V8's flag on first if it has one. */
function relaxedSimdAvailable(): boolean {
  const bytes = Buffer.from(variantBytes["relaxed-simd"], "base64");
  if (WebAssembly.validate(bytes)) return true;
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(bytes);
}

/**
 * A compiled kernels module (compiled once per thread and build, from the bytes embedded in
 * kernels-wasm.ts / kernels-relaxed-wasm.ts); by default the build `kernelsVariant` chose.
 */
export function kernelsModule(variant: KernelsVariant = kernelsVariant()): WebAssembly.Module {
  let module = compiled.get(variant);
  if (!module) {
    if (variant === "relaxed-simd" && !relaxedSimdAvailable()) throw new Error("This runtime has no relaxed SIMD");
    module = new WebAssembly.Module(Buffer.from(variantBytes[variant], "base64"));
    compiled.set(variant, module);
  }
  return module;
}

let created = 0;

/** Kernels instances created on this thread so far (tests count them: a warm round creates none). */
export function kernelInstancesCreated(): number {
  return created;
}

/** Pages of 64 KiB the kernels' memory may grow to: all of wasm32 (a shared memory must name its maximum). */
const maximumPages = 65536;

/**
 * A memory for kernels instances. Shared (a SharedArrayBuffer underneath), as the module declares it:
 * the threads of a data-parallel run instantiate the kernels over one memory and read each other's
 * gradients in place (kernel-runner.ts); any other instance has a memory of its own.
 */
export function createKernelMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 1, maximum: maximumPages, shared: true });
}

/**
 * A fresh kernels instance, on a memory of its own, or on `memory` shared with other instances (other
 * threads): then `start` is where this instance's allocations begin (the caller keeps the instances'
 * regions apart; the module's static data below `heapBase` is the same for every instance).
 */
export function createKernelInstance(
  shared?: { memory: WebAssembly.Memory; start: number },
  variant: KernelsVariant = kernelsVariant(),
): KernelInstance {
  created++;
  const memory = shared?.memory ?? createKernelMemory();
  const instance = new WebAssembly.Instance(kernelsModule(variant), { env: { memory } });
  const exports = instance.exports as unknown as Kernels & { heapBase(): number };
  let top = Math.max(exports.heapBase(), shared?.start ?? 0);
  return {
    kernels: { ...exports },
    variant,
    memory,
    alloc(bytes) {
      const ptr = top;
      top = Math.ceil((top + bytes) / 16) * 16;
      const missing = top - memory.buffer.byteLength;
      if (missing > 0) memory.grow(Math.ceil(missing / 65536));
      return ptr;
    },
    release(mark) {
      top = mark;
    },
    top: () => top,
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
  };
}
