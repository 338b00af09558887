import { Worker } from "node:worker_threads";
import { controlSlots, ctl } from "./parallel-protocol.js";

/**
 * Training threads, started on first use and kept (unreferenced, asleep) for the next run, so a round of
 * local training does not pay for thread start-up. The single executable carries the worker's code as a
 * string (scripts/lib/sea-bundle.ts defines it); from the repository a worker loads worker.ts through tsx.
 */

declare const __FBM_ENGINE_WORKER__: string | undefined;

export interface PooledWorker {
  readonly worker: Worker;
  /** The message that ended the worker's last run: { released } or { error }. */
  next(): Promise<{ released?: boolean; error?: string }>;
}

const idle: PooledWorker[] = [];

function workerSource(): string {
  if (typeof __FBM_ENGINE_WORKER__ === "string") return __FBM_ENGINE_WORKER__;
  const tsx = import.meta.resolve("tsx/esm/api");
  // From the sources (tsx) or from the built library (dist/, plain JavaScript).
  const entry = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url).href;
  // A worker that cannot load still answers its first run, marking it failed, so no caller waits forever.
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); }).catch((e) => {
    const { parentPort } = require("node:worker_threads");
    parentPort.once("message", (init) => {
      parentPort.postMessage({ error: "cannot load the training thread: " + e.message });
      const control = new Int32Array(init.shared, 0, ${controlSlots});
      Atomics.store(control, ${ctl.failed}, 1);
      Atomics.notify(control, ${ctl.gradsReady});
      Atomics.notify(control, ${ctl.updated});
    });
  });`;
}

function startWorker(): PooledWorker {
  const worker = new Worker(workerSource(), { eval: true });
  const pending: ((message: { released?: boolean; error?: string }) => void)[] = [];
  let dead: string | undefined;
  worker.on("message", (message) => pending.shift()?.(message));
  worker.on("error", (error) => {
    dead = error.message;
    for (const resolve of pending.splice(0)) resolve({ error: dead });
  });
  worker.on("exit", () => {
    dead ??= "the training thread exited";
    for (const resolve of pending.splice(0)) resolve({ error: dead });
    const at = idle.findIndex((p) => p.worker === worker);
    if (at >= 0) idle.splice(at, 1);
  });
  // After the listeners: adding a message listener refs the worker again, and a sleeping pool must not
  // keep the process alive.
  worker.unref();
  return {
    worker,
    next: () => (dead ? Promise.resolve({ error: dead }) : new Promise((resolve) => pending.push(resolve))),
  };
}

/** `count` workers for one run: idle ones first, new ones for the rest. */
export function takeWorkers(count: number): PooledWorker[] {
  return Array.from({ length: count }, () => idle.pop() ?? startWorker());
}

/** Returns workers that finished their run cleanly to the pool. */
export function returnWorkers(workers: PooledWorker[]): void {
  idle.push(...workers);
}

/** Ends workers that may be stuck (a failed run). */
export function discardWorkers(workers: PooledWorker[]): void {
  for (const w of workers) void w.worker.terminate();
}
