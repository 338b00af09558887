import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * A young-generation collection after every `everyBytes` of reply bytes folded, so the socket read
 * buffers those bytes arrived in are freed at the pace they arrive. A fold copies what it keeps
 * (reply-fold.ts), so the views of those buffers die young, but V8 schedules scavenges by the JS heap,
 * which a reply's bytes hardly grow: at 100 × 1M, 30 MiB of dead buffers piled up between two
 * scavenges, and malloc kept that high-water mark as rss (README "Scale", Memory). A scavenge of the
 * researcher's 4 MiB semi-space (young-generation.ts) costs about a millisecond.
 * `gc` exists only under `--expose-gc`, which V8 reads when a context is made: set at run time, a new
 * context gets it (the single executable cannot be given the flag, as for the young generation's cap).
 */
export type YoungSweep = (bytes: number) => void;

/** 8 MiB: a quarter of the transfer budget. */
export const YOUNG_SWEEP_BYTES = 8 * 2 ** 20;

let collect: ((options: { type: "minor" }) => void) | undefined;

export function createYoungSweep(everyBytes: number = YOUNG_SWEEP_BYTES): YoungSweep {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as (options: { type: "minor" }) => void;
  }
  const gc = collect;
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    gc({ type: "minor" });
  };
}
