import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";

/** Memory figures for benchmarks: peaks of `process.memoryUsage()` sampled on a timer, and a true rss peak. */

export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
}

export interface MemorySampler {
  /** Peaks since start (or the last reset), including a sample taken now. */
  peak(): MemoryFigures;
  /** Starts a new peak window from the current usage. */
  reset(): void;
  /** Stops the timer and returns the final peaks. */
  stop(): MemoryFigures;
}

/**
 * Samples rss, heapUsed, arrayBuffers and external every `intervalMs` on this thread's event loop.
 * A synchronous stretch longer than the interval is sampled only at its ends.
 */
export function createMemorySampler(options: { intervalMs?: number } = {}): MemorySampler {
  let peaks = current();
  const sample = () => {
    const now = current();
    peaks = {
      rss: Math.max(peaks.rss, now.rss),
      heapUsed: Math.max(peaks.heapUsed, now.heapUsed),
      arrayBuffers: Math.max(peaks.arrayBuffers, now.arrayBuffers),
      external: Math.max(peaks.external, now.external),
    };
  };
  const timer = setInterval(sample, options.intervalMs ?? 50);
  timer.unref();
  return {
    peak() {
      sample();
      return { ...peaks };
    },
    reset() {
      peaks = current();
    },
    stop() {
      clearInterval(timer);
      sample();
      return { ...peaks };
    },
  };
}

/** This process's memory right now. */
export function current(): MemoryFigures {
  const { rss, heapUsed, arrayBuffers, external } = process.memoryUsage();
  return { rss, heapUsed, arrayBuffers, external };
}

export interface RssWatcher {
  /** Highest rss (bytes) since the last reset. */
  peak(): number;
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Watches the process's rss from a worker thread, so the peak of a long synchronous call on the main
 * thread (an aggregation) is caught too. Resolves once the worker takes samples.
 */
export async function createRssWatcher(options: { intervalMs?: number } = {}): Promise<RssWatcher> {
  // One Int32 slot holding the peak in KiB (enough up to 2 TiB); only the worker raises it.
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const { workerData, parentPort } = require("node:worker_threads");
    const peak = workerData.shared;
    const tick = () => {
      const kib = Math.ceil(process.memoryUsage.rss() / 1024);
      let seen = Atomics.load(peak, 0);
      while (kib > seen) {
        const was = Atomics.compareExchange(peak, 0, seen, kib);
        if (was === seen) break;
        seen = was;
      }
    };
    tick();
    parentPort.postMessage("ready");
    setInterval(tick, workerData.intervalMs);
  `;
  const worker = new Worker(code, { eval: true, workerData: { shared, intervalMs: options.intervalMs ?? 5 } });
  worker.unref();
  await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    peak: () => Math.max(Atomics.load(shared, 0) * 1024, process.memoryUsage.rss()),
    reset: () => Atomics.store(shared, 0, 0),
    stop: async () => {
      await worker.terminate();
    },
  };
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection (via --expose-gc enabled at run time), so one measurement's garbage does not count in the next. */
export function forceGc(): void {
  if (!gcFunction) {
    setFlagsFromString("--expose-gc");
    gcFunction = runInNewContext("gc") as () => void;
  }
  gcFunction();
  gcFunction();
}

/**
 * MiB/s of copying 1 MiB blocks into freshly allocated buffers versus into one reused buffer: the
 * first shows what page faults on new memory cost on this machine (every transfer leg allocates anew).
 */
export function copyRates(blocks = 64): { freshMiBps: number; reusedMiBps: number } {
  const source = new Uint8Array(1 << 20).fill(7);
  const rate = (copy: () => void) => {
    const started = performance.now();
    for (let i = 0; i < blocks; i++) copy();
    return blocks / ((performance.now() - started) / 1000);
  };
  const reused = new Uint8Array(1 << 20);
  rate(() => new Uint8Array(1 << 20).set(source)); // warm-up
  const freshMiBps = rate(() => new Uint8Array(1 << 20).set(source));
  const reusedMiBps = rate(() => reused.set(source));
  return { freshMiBps, reusedMiBps };
}
