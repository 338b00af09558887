import { getHeapStatistics } from "node:v8";
import { v8Collect } from "../../common/v8-gc.js";

/**
 * Garbage collection between a node's rounds, while it waits for the next task (issue 28).
 *
 * Each round of `fbm-node serve` leaves a few MiB of garbage in V8's old space (the task received, the
 * reply sent: measured at ~5 MiB a round for the MLP 784-128-10 of `npm run bench -- train`), which
 * trainLocal's steps alone do not (no major collection in eight in-process rounds). V8 then starts a
 * major collection every two or three rounds, whenever the heap reaches its limit — in practice during
 * a round's steps, the longest phase: its incremental marking steps run on the training thread (every
 * worker waits for it at the next barrier) and its concurrent marking takes a core from them (traced:
 * 15–114 ms of marking inside 0.2-s rounds). After a task's reply is sent the node is idle until the
 * researcher has aggregated every reply, so a full collection there, once the heap has grown by
 * `growthBytes` since the last one, keeps V8 below its limit during the next round's steps.
 */
export interface IdleCollector {
  /** After a task's reply has gone: collects when the heap grew by `growthBytes` since the last time. */
  afterTask(): void;
  /** How many collections ran (for tests and logs). */
  readonly collections: number;
}

export interface IdleCollectorOptions {
  /** Growth of the used heap that calls for a collection (default 8 MiB: about two rounds of the MLP's garbage). */
  growthBytes?: number;
  /** The used heap in bytes (default V8's used_heap_size). */
  heapUsed?: () => number;
  /** A full, synchronous collection (default V8's, common/v8-gc.ts). */
  collect?: () => void;
}

export function createIdleCollector(options: IdleCollectorOptions = {}): IdleCollector {
  const growth = options.growthBytes ?? 8 * 1024 * 1024;
  const heapUsed = options.heapUsed ?? (() => getHeapStatistics().used_heap_size);
  let collect = options.collect;
  let baseline = heapUsed();
  let collections = 0;
  return {
    afterTask() {
      if (heapUsed() - baseline < growth) return;
      collect ??= v8Collect();
      collect();
      collections++;
      baseline = heapUsed();
    },
    get collections() {
      return collections;
    },
  };
}
