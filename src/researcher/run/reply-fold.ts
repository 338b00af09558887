import type { TrainResult } from "../../ml/types.js";
import {
  type BufferPool,
  createBufferPool,
  type ParamsAssembler,
  type ParamsHeader,
  type ReplyReceiver,
  readValues,
  type TensorSpec,
  type ValueRun,
  WireError,
} from "../../wire/index.js";
import type { RunningMean } from "../aggregators/running-mean.js";
import { firstNonFinite } from "../server/reply-check.js";
import { DEFAULT_TRANSFER_BUDGET } from "../server/transfer-budget.js";
import { createYoungSweep, type YoungSweep } from "./young-sweep.js";

/** One for the process: what it paces is the process's garbage, whichever reply it came in. */
let sweep: YoungSweep | undefined;

/**
 * One train reply folded into the round's running mean chunk by chunk, as its bytes arrive, instead
 * of being assembled whole first: its values go into Σ samples·x (weight: the sample count its head
 * announces) and are never held as a model-sized array. A reply that turns out unusable after part of
 * it was folded (its stream breaks, ends short or runs long, a value is not finite, its task times
 * out) is taken back out: the same products are subtracted (see `takeBack`).
 */
export interface ReplyFold {
  /** For hub.send: takes a train reply whose head passes `headProblem`; any other reply is assembled whole. */
  receive: ReplyReceiver;
  /** True once a reply's bytes went to the running mean (its params then come back empty). */
  readonly folding: boolean;
  /** Why the folded values cannot count (a non-finite value), or undefined. */
  readonly problem: string | undefined;
  /** Counts the whole, valid reply in the mean (its samples join the total) and drops what `takeBack` needed. */
  commit(): void;
  /** Subtracts whatever was folded; bytes arriving later are refused. Safe to call more than once. */
  takeBack(): void;
}

/** `running` undefined: the values are only checked as they arrive, then dropped (nothing to take back). */
export function foldReply(
  running: RunningMean | undefined,
  options: {
    /** Why a reply's head (sample count, metric counts, its tensors) rules it out, or undefined. */
    headProblem: (result: TrainResult, tensors: readonly TensorSpec[]) => string | undefined;
    /** Where the folded bytes are kept until commit or take-back (default: a pool of this reply's own). */
    takeBack?: BufferPool;
  },
): ReplyFold {
  const pool = options.takeBack ?? createBufferPool({ maxBuffers: 0 });
  let folding = false;
  let closed = false;
  let problem: string | undefined;
  let samples = 0;
  let header: ParamsHeader | undefined;
  /** A copy of the bytes pushed so far (`kept` of them), to take them back; from `pool`, given back when done. */
  let copy: Uint8Array | undefined;
  let kept = 0;
  /** Values folded so far, in stream order (folding stops at the first non-finite value). */
  let folded = 0;

  const add: ValueRun = (tensor, start, values) => {
    if (problem !== undefined) return;
    // Float32 values (a model's) are checked and added in one pass; the values before a non-finite one count as folded.
    const at =
      running && values instanceof Float32Array
        ? running.addFinite(tensor, start, values, samples)
        : firstNonFinite(values);
    if (at >= 0) {
      if (running && values instanceof Float32Array) folded += at;
      problem = `tensor "${header?.tensors[tensor].name}" contains ${values[at]}`;
      subtractFolded();
      return;
    }
    if (!running) return;
    if (!(values instanceof Float32Array)) running.addRun(tensor, start, values, samples);
    folded += values.length;
  };

  /**
   * Replays the kept chunks through a fresh reader and subtracts the values that were added, in the
   * same order. Float64 addition is not exactly reversible: (s + p) − p may differ from s by one
   * rounding of the sum, about 2⁻⁵³ of its magnitude per element. The mean is rounded to float32
   * (2⁻²⁴) at the end, and folding the valid replies in another order moves it by as much, so the
   * result is within rounding of never having added the reply.
   */
  function subtractFolded(): void {
    let left = folded;
    folded = 0;
    if (left > 0 && header && running) {
      const replay = readValues(header, (tensor, start, values) => {
        if (left <= 0) return;
        const n = Math.min(left, values.length);
        running.addRun(tensor, start, values.subarray(0, n), -samples);
        left -= n;
      });
      if (copy) replay.push(copy.subarray(0, kept));
    }
    release();
  }

  function release(): void {
    if (copy) pool.release(copy.buffer);
    copy = undefined;
  }

  const receive: ReplyReceiver = (body, announced) => {
    if (body.kind !== "train" || closed || folding) return undefined;
    if (options.headProblem(body.result, announced.tensors) !== undefined) return undefined;
    folding = true;
    samples = body.result.sampleCount;
    header = announced;
    if (running) copy = pool.take(announced.totalBytes);
    const reader = readValues(announced, add);
    const sink: ParamsAssembler = {
      get received() {
        return reader.received;
      },
      push(chunk) {
        if (closed) throw new WireError("The reply's task is no longer waiting for it");
        // Kept before it is read: a value found non-finite in it takes back the values before it. A
        // piece past the announced size is not kept: the reader refuses it before reading any of it.
        // The values are read from the copy: it starts at the reply's first byte, so every whole value
        // in it is 4-byte aligned and read in place (a piece of a socket buffer seldom is: it would be
        // copied again into the reader's scratch).
        let piece = chunk;
        if (copy && kept + chunk.length <= copy.length) {
          copy.set(chunk, kept);
          piece = copy.subarray(kept, kept + chunk.length);
          kept += chunk.length;
        }
        reader.push(piece);
        sweep ??= createYoungSweep();
        sweep(chunk.length);
      },
      finish: () => reader.finish(),
    };
    return sink;
  };

  return {
    receive,
    get folding() {
      return folding;
    },
    get problem() {
      return problem;
    },
    commit() {
      closed = true;
      release();
      running?.commit(samples);
    },
    takeBack() {
      if (closed) return;
      closed = true;
      subtractFolded();
    },
  };
}

/**
 * The take-back storage of an experiment's folds of `model`-shaped replies, reused from one round to the
 * next. Bounded by the transfer budget (`budgetBytes`, default the researcher's): the replies being
 * received at once hold at most that much, so it keeps that much free plus one model-sized reply (a reply
 * that commits just after the next one was admitted).
 */
export function createTakeBackBuffers(
  model: readonly { data: ArrayBufferView }[],
  budgetBytes = DEFAULT_TRANSFER_BUDGET,
): BufferPool {
  const modelBytes = model.reduce((n, t) => n + t.data.byteLength, 0);
  const bytes = Math.max(budgetBytes, modelBytes) + modelBytes;
  return createBufferPool({ maxBytes: bytes, maxBuffers: Math.ceil(bytes / Math.max(1, modelBytes)) });
}
