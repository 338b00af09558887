import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import type { Worker } from "node:worker_threads";

/**
 * The researcher's cap on each of V8's two young-generation semi-spaces, in MiB (V8's own is 16 on
 * 64-bit). A server's allocations are short-lived and come in bursts (a round's replies), so V8 grows
 * its young generation to the maximum within seconds: 32 MiB of heap committed and touched for good,
 * which at 100 nodes × 1M parameters was ~20 MiB of the researcher's peak rss (README "Scale", Memory).
 * 4 MiB was measured (rss at ready 125 MiB instead of 143–147, heapTotal 50–56 instead of 72–79, ~12%
 * more researcher CPU at 1M); smaller caps were not measured here (2 MiB, as a flag, cost ~10% CPU before).
 */
export const RESEARCHER_SEMI_SPACE_MIB = 4;

/** Undoes `capYoungGeneration` (V8's default growth again). */
export type ReleaseYoungGeneration = () => void;

/**
 * Keeps this process's young generation at or below `semiSpaceMiB` per semi-space, as
 * `--max-semi-space-size` would, from inside the process. That flag cannot be given here: V8 reads it
 * only when the heap is made, and Node 20's single executable cannot pass flags to itself (sea-config
 * has no execArgv before Node 24); an environment variable the user must set would not be the default.
 * V8 reads `--semi-space-growth-factor` at each growth instead, so after every collection the factor is
 * set so that the next growth lands on the cap (×2 and more below it, ×1, no growth, at it). Entries
 * come after the synchronous work that caused them, so two growths within one stretch of it would
 * overshoot the cap: the factor starts at 1, and a growth needs a survival rate that long stretches
 * seldom repeat after start-up.
 * V8 may still shrink the young generation when a process idles; it then grows back up to the cap.
 */
export function capYoungGeneration(semiSpaceMiB: number = RESEARCHER_SEMI_SPACE_MIB): ReleaseYoungGeneration {
  const cap = semiSpaceMiB * 2 ** 20;
  const steer = () => {
    const semiSpace = youngGenerationBytes() / 2;
    // Semi-spaces are whole multiples of each other (powers of two), so a whole factor lands on the cap.
    const factor = semiSpace <= 0 || semiSpace >= cap ? 1 : Math.max(1, Math.floor(cap / semiSpace));
    // Set every time, not only when it changes: starting a worker thread puts V8's flags back to their defaults.
    setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  };
  // No growth until the first collection's entry arrives: entries are delivered after the synchronous work that
  // caused them, and a long stretch of it (loading the program's modules) grew 2 → 8 MiB semi-spaces under factor 2.
  setFlagsFromString("--semi-space-growth-factor=1");
  // One entry per collection, delivered after it: the only moment the young generation's size changes.
  const observer = new PerformanceObserver(steer);
  observer.observe({ entryTypes: ["gc"] });
  // A worker thread resets the flags as it starts (seen with Node 20): set the factor again once it runs.
  const onWorker = (worker: Worker) => worker.once("online", steer);
  process.on("worker", onWorker);
  return () => {
    observer.disconnect();
    process.off("worker", onWorker);
    setFlagsFromString("--semi-space-growth-factor=2");
  };
}

/** Bytes of V8's young generation (both semi-spaces) as now committed. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;
}
