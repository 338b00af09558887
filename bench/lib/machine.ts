import os from "node:os";
import type { MemoryFigures } from "./memory.js";

/** The machine line every benchmark prints first, and the number formats they share. */

/** "machine: AMD EPYC, 2 cores, 23.5 GiB RAM, node v20.20.2, tfjs backend wasm (SIMD)". */
export function machineLine(backend: string): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() || "unknown CPU";
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  return `machine: ${model}, ${cpus.length} cores, ${gib} GiB RAM, node ${process.version}, tfjs backend ${backend}`;
}

/** Bytes as MiB with one decimal, e.g. "179.4 MiB". */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Peak figures in one line: "rss 412.0 MiB, heapUsed 30.1 MiB, arrayBuffers 190.2 MiB, external 191.0 MiB". */
export function formatPeaks(peaks: MemoryFigures): string {
  return `rss ${mib(peaks.rss)}, heapUsed ${mib(peaks.heapUsed)}, arrayBuffers ${mib(peaks.arrayBuffers)}, external ${mib(peaks.external)}`;
}

/** Seconds with the given decimals, e.g. "1.23 s". */
export function seconds(ms: number, decimals = 2): string {
  return `${(ms / 1000).toFixed(decimals)} s`;
}
