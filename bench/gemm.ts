/**
 * The matrix multiply alone on the MLP 784-128-10's products (batch 64 on one thread, 32 rows on each of
 * two): both kernels builds (kernels.ts `KernelsVariant`: fused multiply-adds or a multiply and an add),
 * alternating build by build within each run so both see the same machine state; CPU time of this
 * thread (the process has no other), medians over runs, GFLOP/s. Also prints the largest difference
 * between the two builds' results (float rounding: fused or not). Asserts nothing.
 * Run: npm run bench -- gemm [--runs 9] [--reps 200]   (`--quick`: 3 runs of 50)
 */
import { loadavg } from "node:os";
import {
  createKernelInstance,
  type KernelInstance,
  type KernelsVariant,
  kernelsVariant,
} from "../src/ml/engine/kernels.js";
import { createRng } from "../src/ml/rng.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";

const quick = isQuick();
const runs = numberFlag("runs", quick ? 3 : 9);
const reps = numberFlag("reps", quick ? 50 : 200);

/** One product as trainer.ts calls it: C[M,N] = A·B, A read with strides (ars, acs) so Xᵀ needs no copy. */
interface Product {
  name: string;
  M: number;
  N: number;
  K: number;
  /** A is stored M×K row-major (false) or K×M and read transposed (true). */
  transposedA: boolean;
}

const products: Product[] = [64, 32].flatMap((rows) => [
  { name: `forward ${rows}×784·784×128`, M: rows, N: 128, K: 784, transposedA: false },
  { name: `weight gradient (${rows}×784)ᵀ·${rows}×128`, M: 784, N: 128, K: rows, transposedA: true },
  { name: `output layer ${rows}×128·128×10`, M: rows, N: 10, K: 128, transposedA: false },
  { name: `input gradient ${rows}×10·10×128`, M: rows, N: 128, K: 10, transposedA: false },
]);

interface Laid {
  instance: KernelInstance;
  ptrs: { a: number; b: number; c: number }[];
  pack: number;
}

/** Each product's operands in `variant`'s own instance, filled with the same values for both builds. */
function layOut(variant: KernelsVariant): Laid {
  const instance = createKernelInstance(undefined, variant);
  const rng = createRng(7);
  const ptrs = products.map((p) => {
    const a = instance.alloc(p.M * p.K * 4);
    const b = instance.alloc(p.K * p.N * 4);
    const c = instance.alloc(p.M * p.N * 4);
    return { a, b, c };
  });
  const pack = instance.alloc(256 * 8 * 4);
  for (const [i, p] of products.entries()) {
    const a = instance.f32(ptrs[i].a, p.M * p.K);
    const b = instance.f32(ptrs[i].b, p.K * p.N);
    for (let j = 0; j < a.length; j++) a[j] = rng.next() - 0.5;
    for (let j = 0; j < b.length; j++) b[j] = rng.next() - 0.5;
  }
  return { instance, ptrs, pack };
}

function run(laid: Laid, i: number): void {
  const p = products[i];
  const { a, b, c } = laid.ptrs[i];
  const [ars, acs] = p.transposedA ? [1, p.M] : [p.K, 1];
  laid.instance.kernels.gemm(p.M, p.N, p.K, a, ars, acs, b, p.N, c, p.N, 0, laid.pack);
}

/** CPU ms of `reps` calls of product `i`. */
function time(laid: Laid, i: number): number {
  const cpu0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) run(laid, i);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

console.log(machineLine("kernels (WebAssembly SIMD)"));
const chosen = kernelsVariant();
const variants: KernelsVariant[] = chosen === "relaxed-simd" ? ["relaxed-simd", "simd"] : ["simd"];
console.log(
  `builds: ${variants.join(", ")} (this process would train with ${chosen}${chosen === "simd" ? ": relaxed SIMD refused or FBM_KERNELS=simd" : ""}); ` +
    `${runs} runs of ${reps} calls per product, builds alternating; load average ${loadavg()[0].toFixed(2)}`,
);
const laid = new Map(variants.map((v) => [v, layOut(v)]));
const ms = new Map(variants.map((v) => [v, products.map(() => [] as number[])]));
for (const v of variants) for (let i = 0; i < products.length; i++) time(laid.get(v)!, i);
for (let r = 0; r < runs; r++) {
  for (let i = 0; i < products.length; i++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) ms.get(v)![i].push(time(laid.get(v)!, i));
  }
}
for (const [i, p] of products.entries()) {
  const flop = 2 * p.M * p.N * p.K * reps;
  const cells = variants.map((v) => {
    const m = median(ms.get(v)![i]);
    return `${v} ${((m / reps) * 1000).toFixed(1)} µs ${(flop / m / 1e6).toFixed(1)} GFLOP/s`;
  });
  let note = "";
  if (variants.length === 2) {
    const [x, y] = variants.map((v) => laid.get(v)!);
    const ratio = median(ms.get(variants[1])![i]) / median(ms.get(variants[0])![i]);
    run(x, i);
    run(y, i);
    const cx = x.instance.f32(x.ptrs[i].c, p.M * p.N);
    const cy = y.instance.f32(y.ptrs[i].c, p.M * p.N);
    let diff = 0;
    for (let j = 0; j < cx.length; j++) diff = Math.max(diff, Math.abs(cx[j] - cy[j]));
    note = `; ${ratio.toFixed(2)}× faster fused; max |Δ| ${diff.toExponential(1)}`;
  }
  console.log(`  ${p.name.padEnd(34)} ${cells.join(" | ")}${note}`);
}
console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
