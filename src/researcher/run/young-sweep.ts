import { v8Collect } from "../../common/v8-gc.js";

/**
 * A young-generation collection after every `everyBytes` of reply bytes folded, so the socket read
 * buffers those bytes arrived in are freed at the pace they arrive. A fold copies what it keeps
 * (reply-fold.ts), so the views of those buffers die young, but V8 schedules scavenges by the JS heap,
 * which a reply's bytes hardly grow: at 100 × 1M, 30 MiB of dead buffers piled up between two
 * scavenges, and malloc kept that high-water mark as rss (README "Scale", Memory). A scavenge of the
 * researcher's 4 MiB semi-space (young-generation.ts) costs about a millisecond.
 */
export type YoungSweep = (bytes: number) => void;

/** 8 MiB: a quarter of the transfer budget. */
export const YOUNG_SWEEP_BYTES = 8 * 2 ** 20;

export function createYoungSweep(everyBytes: number = YOUNG_SWEEP_BYTES): YoungSweep {
  const gc = v8Collect();
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    gc({ type: "minor" });
  };
}
