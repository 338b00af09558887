import type * as tf from "@tensorflow/tfjs";
import { getParams } from "../params.js";
import type { NamedTensor } from "../types.js";
import type { KernelSession } from "./kernel-session.js";

/**
 * What a node keeps between rounds of one experiment: the built network and its seeded initial weights,
 * and on the kernels path their session (kernel-session.ts: kernels trainer, joined worker threads,
 * predictor), so a round only loads the new parameters (the dataset is kept by the node's loader). One experiment's network at a time: another key drops it, and so does `idleMs` without
 * a round. A round takes the network out and hands it back when it succeeds, so a failed round (or two
 * rounds at once) never shares a half-trained one.
 */
export interface WarmRounds {
  /**
   * The kept network for `key` with the initial weights to load into it (it holds the last round's), or a
   * fresh `build()` (it holds them already).
   */
  take(
    key: string,
    build: () => tf.LayersModel,
  ): { model: tf.LayersModel; initial?: NamedTensor[]; session?: KernelSession };
  /** Keeps `model` (taken for `key`) and its kernels session for the next round, dropping whatever else is kept. */
  keep(key: string, model: tf.LayersModel, session?: KernelSession): void;
  drop(): void;
  /** Networks built so far (a warm round builds none). */
  readonly builds: number;
  /** The key kept now, if any. */
  readonly kept: string | undefined;
}

/** Five minutes: far longer than the gap between two rounds, short enough not to hold memory for long. */
export const defaultIdleMs = 5 * 60 * 1000;

export function createWarmRounds(options: { idleMs?: number; onDrop?: (key: string) => void } = {}): WarmRounds {
  const idleMs = options.idleMs ?? defaultIdleMs;
  let entry: { key: string; model: tf.LayersModel; initial: NamedTensor[]; session?: KernelSession } | undefined;
  /** Initial weights of networks taken out, by model, until they come back. */
  const initials = new WeakMap<tf.LayersModel, NamedTensor[]>();
  let timer: NodeJS.Timeout | undefined;
  let builds = 0;
  const drop = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!entry) return;
    const { key, model, session } = entry;
    entry = undefined;
    model.dispose();
    session?.close();
    options.onDrop?.(key);
  };
  return {
    take(key, build) {
      if (entry?.key === key) {
        const { model, initial, session } = entry;
        if (timer) clearTimeout(timer);
        entry = undefined;
        timer = undefined;
        initials.set(model, initial);
        return { model, initial, ...(session ? { session } : {}) };
      }
      drop();
      const model = build();
      builds++;
      initials.set(model, getParams(model));
      return { model };
    },
    keep(key, model, session) {
      const initial = initials.get(model);
      if (!initial) throw new Error("keep() takes a model from take()");
      drop();
      entry = { key, model, initial, ...(session ? { session } : {}) };
      timer = setTimeout(drop, idleMs);
      timer.unref();
    },
    drop,
    get builds() {
      return builds;
    },
    get kept() {
      return entry?.key;
    },
  };
}
