import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type MetricCounts as MetricCountsPb,
  type Metrics,
  type Reply,
  type ReplyChunk,
  ReplyChunkSchema,
  ReplySchema,
  type RoundPhases as RoundPhasesPb,
} from "../gen/fbm/v1/researcher_pb.js";
import type { MetricCounts } from "../ml/metric-counts.js";
import type { MetricValues, NamedTensor, RoundPhases } from "../ml/types.js";
import { fromAnalyticsReply, toAnalyticsReplyInit } from "./analytics-codec.js";
import type { BufferPool } from "./buffer-pool.js";
import { fromClinicalReply, toClinicalReplyInit } from "./clinical-codec.js";
import { readErrorCode } from "./error-codes.js";
import type { ReplyBody, ReplyEnvelope } from "./messages.js";
import { createHeadedReader, fromHeaderPb, toHeaderPb } from "./params-codec.js";
import { createSealCheck, type SignedCaller } from "./request-signing.js";
import { fromSecaggReply, toSecaggReplyInit } from "./secagg-codec.js";
import {
  DEFAULT_CHUNK_BYTES,
  fromChunks,
  type ParamsAssembler,
  type ParamsHeader,
  toChunks,
  toParamsHeader,
} from "./tensor-bytes.js";
import { WireError, WireLimitError } from "./wire-error.js";

/** A reply as the chunks of one ReplyTask request: the Reply message, then its parameter bytes. */
export function* encodeReply(envelope: ReplyEnvelope, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<ReplyChunk> {
  const reply = create(ReplySchema, {
    taskId: envelope.taskId,
    nodeId: envelope.nodeId,
    kind: toKindInit(envelope.body),
  });
  yield create(ReplyChunkSchema, { part: { case: "reply", value: reply } });
  if (envelope.body.kind === "train") {
    for (const data of toChunks(envelope.body.result.params, chunkBytes)) {
      yield create(ReplyChunkSchema, { part: { case: "data", value: data } });
    }
  }
}

function toKindInit(body: ReplyBody): MessageInitShape<typeof ReplySchema>["kind"] {
  switch (body.kind) {
    case "ping":
      return { case: "ping", value: { version: body.version, backend: body.backend } };
    case "datasets":
      return {
        case: "datasets",
        value: {
          datasets: body.datasets.map((d) => ({
            ...d,
            sampleCount: BigInt(d.sampleCount),
            classes: d.classes.map((c) => ({ name: c.name, count: BigInt(c.count) })),
          })),
        },
      };
    case "stats":
      return {
        case: "stats",
        value: {
          columns: body.columns.map((c) => ({
            ...c,
            count: BigInt(c.count),
            missing: BigInt(c.missing ?? 0),
            categories: (c.categories ?? []).map((k) => ({ name: k.name, count: BigInt(k.count) })),
            categorical: c.categories !== undefined,
          })),
        },
      };
    case "train": {
      const r = body.result;
      return {
        case: "train",
        value: {
          sampleCount: BigInt(r.sampleCount),
          trainLoss: r.trainLoss,
          seconds: r.seconds,
          globalMetrics: toMetricsInit(r.globalMetrics),
          localMetrics: toMetricsInit(r.localMetrics),
          params: toHeaderPb(toParamsHeader(r.params)),
          privacy: r.privacy ? { ...r.privacy } : undefined,
          phases: r.phases ? { ...r.phases } : undefined,
        },
      };
    }
    case "analytics":
      return { case: "analytics", value: toAnalyticsReplyInit(body) };
    case "clinical":
      return { case: "clinical", value: toClinicalReplyInit(body) };
    case "secagg":
      return { case: "secagg", value: toSecaggReplyInit(body) };
    case "error":
      return { case: "error", value: { code: body.code, message: body.message, planId: body.planId ?? "" } };
  }
}

function toMetricsInit(m: MetricValues | undefined) {
  return m ? { values: m.values, samples: BigInt(m.samples), counts: toCountsInit(m.counts) } : undefined;
}

function toCountsInit(c: MetricCounts | undefined) {
  if (!c) return undefined;
  return {
    rows: BigInt(c.rows),
    classes: c.classes ?? 0,
    confusion: (c.confusion ?? []).map(BigInt),
    scores: (c.scores ?? []).map((s) => ({
      ...s,
      positives: s.positives.map(BigInt),
      negatives: s.negatives.map(BigInt),
    })),
    sums: c.sums,
    voxels: c.voxels
      ? { tp: BigInt(c.voxels.tp), fp: BigInt(c.voxels.fp), fn: BigInt(c.voxels.fn), tn: BigInt(c.voxels.tn) }
      : undefined,
  };
}

function fromMetrics(m: Metrics | undefined): MetricValues | undefined {
  if (!m) return undefined;
  return { values: { ...m.values }, samples: Number(m.samples), ...(m.counts ? { counts: fromCounts(m.counts) } : {}) };
}

function fromCounts(c: MetricCountsPb): MetricCounts {
  const sums = c.sums ? { y: c.sums.y, y2: c.sums.y2, sse: c.sums.sse, sae: c.sums.sae } : undefined;
  if (sums) return { rows: Number(c.rows), sums };
  if (c.voxels) {
    const v = c.voxels;
    return { rows: Number(c.rows), voxels: { tp: Number(v.tp), fp: Number(v.fp), fn: Number(v.fn), tn: Number(v.tn) } };
  }
  return {
    rows: Number(c.rows),
    classes: c.classes,
    confusion: c.confusion.map(Number),
    scores: c.scores.map((s) => ({
      positive: s.positive,
      lo: [...s.lo],
      hi: [...s.hi],
      positives: s.positives.map(Number),
      negatives: s.negatives.map(Number),
      ...(s.wins === undefined ? {} : { wins: s.wins }),
    })),
  };
}

/** What a reply says about itself before its parameter bytes arrive. */
export interface ReplyHead {
  taskId: string;
  nodeId: string;
  kind: ReplyBody["kind"] | "unknown";
  params: ParamsHeader;
}

/**
 * Takes an admitted reply's parameter bytes as they arrive instead of assembling them whole (the
 * researcher folds them into a running sum). It sees the reply as far as its head tells (a train
 * reply's params still empty) and the tensors' header; undefined: assemble the reply as usual.
 * The chunks it is given are its to keep: pieces of the bytes in any cutting (a Session's arrive as the
 * HTTP/2 stream delivered them, views of read buffers nothing else writes; Connect's as whole chunks).
 */
export type ReplyReceiver = (body: ReplyBody, header: ParamsHeader) => ParamsAssembler | undefined;

/**
 * A receiver that assembles each reply's parameters whole, as the intake does by default, but into a
 * buffer of `pool` (buffer-pool.ts) instead of a fresh one: the sender gives it back (`pool.release`
 * of any tensor's `data.buffer`) once it is done with the reply's tensors, and the next round's reply
 * of that size is written into memory already touched.
 */
export function assembleInto(pool: BufferPool): ReplyReceiver {
  return (_body, header) => fromChunks(header, { buffer: (n) => pool.take(n) });
}

/** How a reply is read: see `createReplyIntake`. */
export interface ReplyReadOptions {
  maxBytes?: number;
  admit?: (head: ReplyHead) => number | Promise<number>;
  receive?: ReplyReceiver;
  /** A signed call's caller: the reply must end with its seal (request-signing.ts); none: a seal is dropped. */
  caller?: SignedCaller;
}

/**
 * One reply's chunks pushed as they arrive (a ReplyTask call's, or one reply of a Session), without an
 * async generator per chunk. `admit` sees the reply's head before any parameter bytes are read: it may
 * throw to refuse the reply, and returns the most parameter bytes it accepts, or a promise of it:
 * `chunk` then returns a promise, and the caller pushes nothing more (reads nothing more of its
 * stream) until it settles. `receive` then may take the bytes. `dataPiece` takes a data chunk in the
 * pieces its stream delivered (views the receiver may keep: no copy); `end` returns the reply.
 */
export interface ReplyIntake {
  chunk(chunk: ReplyChunk): Promise<void> | undefined;
  /** A piece of a data chunk of `size` bytes in all; `first` on its first piece. */
  dataPiece(piece: Uint8Array, size: number, first: boolean): void;
  end(): ReplyEnvelope;
}

export function createReplyIntake(options: ReplyReadOptions = {}): ReplyIntake {
  const headerOf = (reply: Reply): ParamsHeader | Promise<ParamsHeader> => {
    const params = fromHeaderPb(reply.kind.case === "train" ? reply.kind.value.params : undefined);
    const kind = reply.kind.case === undefined ? "unknown" : reply.kind.case;
    const limit = options.admit?.({ taskId: reply.taskId, nodeId: reply.nodeId, kind, params });
    const checked = (n: number | undefined) => {
      if (n !== undefined && params.totalBytes > n) {
        throw new WireLimitError(
          `The reply announces ${params.totalBytes} parameter bytes; at most ${n} are accepted for this task`,
        );
      }
      return params;
    };
    return limit instanceof Promise ? limit.then(checked) : checked(limit);
  };
  const receive = options.receive;
  const seal = createSealCheck(options.caller);
  const reader = createHeadedReader(headerOf, {
    maxBytes: options.maxBytes,
    sinkFor: receive && ((reply, header) => receive(toReplyBody(reply, []), header)),
  });
  return {
    chunk(chunk) {
      if (!seal.chunk(chunk)) return undefined;
      if (chunk.part.case === "reply") return reader.message(chunk.part.value);
      if (chunk.part.case !== "data") throw new WireError("Reply stream carries an empty chunk");
      reader.data(chunk.part.value);
      return undefined;
    },
    dataPiece(piece, size, first) {
      seal.dataPiece(piece, size, first);
      reader.data(piece);
    },
    end() {
      seal.end();
      const read = reader.end();
      if (!read) throw new WireError("Reply stream is empty");
      const { message: reply, params } = read;
      return { taskId: reply.taskId, nodeId: reply.nodeId, body: toReplyBody(reply, params) };
    },
  };
}

/** The reply carried by a stream of chunks (a ReplyTask request stream): `createReplyIntake` over it. */
export async function decodeReply(
  stream: AsyncIterable<ReplyChunk>,
  options: ReplyReadOptions = {},
): Promise<ReplyEnvelope> {
  const intake = createReplyIntake(options);
  for await (const chunk of stream) await intake.chunk(chunk);
  return intake.end();
}

function toReplyBody(reply: Reply, params: NamedTensor[]): ReplyBody {
  const kind = reply.kind;
  switch (kind.case) {
    case "ping":
      return { kind: "ping", version: kind.value.version, backend: kind.value.backend };
    case "datasets":
      return {
        kind: "datasets",
        datasets: kind.value.datasets.map((d) => ({
          id: d.id,
          name: d.name,
          type: d.type,
          tags: [...d.tags],
          description: d.description,
          shape: [...d.shape],
          columns: d.columns.map((c) => ({ name: c.name, dtype: c.dtype })),
          sampleCount: Number(d.sampleCount),
          classes: d.classes.map((c) => ({ name: c.name, count: Number(c.count) })),
          target: d.target,
          createdAt: d.createdAt,
        })),
      };
    case "stats":
      return {
        kind: "stats",
        columns: kind.value.columns.map((c) => ({
          name: c.name,
          count: Number(c.count),
          sum: c.sum,
          sumSquares: c.sumSquares,
          min: c.min,
          max: c.max,
          ...(c.missing > 0n ? { missing: Number(c.missing) } : {}),
          ...(c.categorical ? { categories: c.categories.map((k) => ({ name: k.name, count: Number(k.count) })) } : {}),
        })),
      };
    case "train": {
      const t = kind.value;
      return {
        kind: "train",
        result: {
          params,
          sampleCount: Number(t.sampleCount),
          ...(t.trainLoss === undefined ? {} : { trainLoss: t.trainLoss }),
          seconds: t.seconds,
          globalMetrics: fromMetrics(t.globalMetrics),
          localMetrics: fromMetrics(t.localMetrics),
          ...(t.privacy ? { privacy: { epsilon: t.privacy.epsilon, delta: t.privacy.delta } } : {}),
          ...(t.phases ? { phases: fromPhases(t.phases) } : {}),
        },
      };
    }
    case "analytics":
      return fromAnalyticsReply(kind.value);
    case "clinical":
      return fromClinicalReply(kind.value);
    case "secagg":
      return fromSecaggReply(kind.value);
    case "error":
      return {
        kind: "error",
        ...readErrorCode(kind.value.code, kind.value.message),
        planId: kind.value.planId || undefined,
      };
    default:
      throw new WireError("Reply of an unknown kind");
  }
}

function fromPhases(p: RoundPhasesPb): RoundPhases {
  const { load, prepare, build, setup, steps, validate, copy } = p;
  return { load, prepare, build, setup, steps, validate, copy };
}
