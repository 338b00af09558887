import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { canonicalJson } from "../common/canonical-json.js";
import {
  type DpArgs as DpArgsPb,
  type ParamsHeader as ParamsHeaderPb,
  type Task,
  type TaskChunk,
  TaskChunkSchema,
  TaskSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import { parsePreparation, type TablePreparation } from "../ml/table-prep.js";
import type { DpArgs, NamedTensor } from "../ml/types.js";
import { fromAnalyticsTask, toAnalyticsTaskInit } from "./analytics-codec.js";
import type { ExperimentBuffers } from "./buffer-pool.js";
import { fromClinicalTask, toClinicalTaskInit } from "./clinical-codec.js";
import { type AlgorithmExtension, algorithmExtensions, type TaskBody, type TaskEnvelope } from "./messages.js";
import { fromHeaderPb, readHeadedStream, toHeaderPb } from "./params-codec.js";
import { fromMasking, fromSecaggTask, toMaskingInit, toSecaggTaskInit } from "./secagg-codec.js";
import { taskChunkFrame } from "./task-frames.js";
import { DEFAULT_CHUNK_BYTES, fromChunks, type ParamsAssembler, toChunks, toParamsHeader } from "./tensor-bytes.js";
import { traceTransfer } from "./transfer-trace.js";
import { UnreadableTaskError, WireError } from "./wire-error.js";

/**
 * A task as the chunks of one GetTask response: the Task message, then its parameter bytes. The head is
 * serialized once here, so a value that does not fit its wire type (a uint32 batch size of 1e15) throws
 * a WireError from the generator instead of failing inside the transport, where it looks like a broken stream.
 */
export function* encodeTask(envelope: TaskEnvelope, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<TaskChunk> {
  const params = envelope.body.kind === "train" ? sharedParams(envelope.body.params, chunkBytes) : undefined;
  const task = create(TaskSchema, {
    taskId: envelope.taskId,
    experiment: envelope.experiment,
    kind: toKindInit(envelope.body, params?.header),
  });
  const head = create(TaskChunkSchema, { part: { case: "task", value: task } });
  try {
    taskChunkFrame(head); // kept: the pre-encoded task stream writes these bytes
  } catch (error) {
    throw new WireError(error instanceof Error ? error.message : String(error));
  }
  yield head;
  if (params) yield* params.chunks;
}

/**
 * A round sends the same parameters to every node: their header and data chunks are made once per
 * parameter list (by identity) and shared by every task that carries it. The chunks are views of the
 * tensors (tensor-bytes.ts), so the cache costs no copy of the model; it goes when the list does.
 */
const encodedParams = new WeakMap<
  readonly NamedTensor[],
  { chunkBytes: number; header: ParamsHeaderPb; chunks: TaskChunk[] }
>();

function sharedParams(params: readonly NamedTensor[], chunkBytes: number) {
  let encoded = encodedParams.get(params);
  if (encoded?.chunkBytes !== chunkBytes) {
    const header = toHeaderPb(toParamsHeader(params));
    const chunks = [...toChunks(params, chunkBytes)].map((data) =>
      create(TaskChunkSchema, { part: { case: "data", value: data } }),
    );
    encoded = { chunkBytes, header, chunks };
    encodedParams.set(params, encoded);
  }
  return encoded;
}

function toKindInit(body: TaskBody, paramsHeader?: ParamsHeaderPb): MessageInitShape<typeof TaskSchema>["kind"] {
  switch (body.kind) {
    case "ping":
      return { case: "ping", value: {} };
    case "list":
      return { case: "list", value: {} };
    case "search":
      return { case: "search", value: { tags: body.tags } };
    case "stats":
      return {
        case: "stats",
        value: {
          datasetId: body.datasetId,
          planJson: body.planJson,
          preparationJson: preparationJson(body.preparation),
        },
      };
    case "analytics":
      return { case: "analytics", value: toAnalyticsTaskInit(body) };
    case "clinical":
      return { case: "clinical", value: toClinicalTaskInit(body) };
    case "secagg":
      return { case: "secagg", value: toSecaggTaskInit(body) };
    case "train": {
      const n = body.normalization;
      return {
        case: "train",
        value: {
          datasetId: body.datasetId,
          planId: body.planId,
          planJson: body.planJson,
          round: body.round,
          args: { ...body.args, dp: body.args.dp ? { sampleRate: 0, ...body.args.dp } : undefined },
          normalization: n ? { method: n.method, columns: n.columns, shift: n.shift, scale: n.scale } : undefined,
          params: paramsHeader ?? toHeaderPb(toParamsHeader(body.params)),
          secagg: body.secagg ? toMaskingInit(body.secagg) : undefined,
          preparationJson: preparationJson(body.preparation),
          algorithmExtension: body.algorithmExtension ?? "",
          aggregation: body.aggregation ?? "",
        },
      };
    }
  }
}

/**
 * The task carried by a GetTask response stream; undefined when the poll window ended empty. Once the
 * head has arrived, data that cannot be read (a kind this node does not know, parameters over the
 * limit) throws UnreadableTaskError naming the task, so the node can answer it instead of polling again.
 */
export async function decodeTask(
  stream: AsyncIterable<TaskChunk>,
  options: { maxBytes?: number; onOpen?: () => void } = {},
): Promise<TaskEnvelope | undefined> {
  let taskId: string | undefined;
  try {
    const read = await readHeadedStream(
      parts(stream, options.onOpen),
      (task: Task) => {
        taskId = task.taskId;
        return fromHeaderPb(task.kind.case === "train" ? task.kind.value.params : undefined);
      },
      options,
    );
    if (!read) return undefined;
    const { message: task, params } = read;
    return { taskId: task.taskId, experiment: task.experiment, body: toTaskBody(task, params) };
  } catch (error) {
    if (taskId && error instanceof WireError) throw new UnreadableTaskError(taskId, error.message);
    throw error;
  }
}

/**
 * The tasks carried one after another by a kept-open GetTask stream (`keep_open`), each yielded as soon
 * as its last byte arrives (the researcher sends the next one only when there is one). Unreadable data
 * throws UnreadableTaskError naming the task, as `decodeTask`.
 */
export async function* decodeTasks(
  stream: AsyncIterable<TaskChunk>,
  options: { maxBytes?: number; onOpen?: () => void; buffers?: ExperimentBuffers } = {},
): AsyncGenerator<TaskEnvelope> {
  const { maxBytes, buffers } = options;
  let task: Task | undefined;
  let assembler: ParamsAssembler | undefined;
  let total = 0;
  let unread: string | undefined; // the id of the task being read, for UnreadableTaskError
  try {
    const onMark = () => {
      if (task) throw new WireError("Task stream carries an empty chunk inside a task");
    };
    for await (const part of parts(stream, options.onOpen, onMark)) {
      if (part.kind === "message") {
        if (task) throw new WireError("Task stream sent a task before the last one's parameters were complete");
        task = part.message;
        unread = task.taskId;
        const header = fromHeaderPb(task.kind.case === "train" ? task.kind.value.params : undefined);
        total = header.totalBytes;
        // A task's parameters go into its experiment's pool when the caller keeps one (buffer-pool.ts).
        const pool = buffers?.of(task.experiment);
        traceTransfer("node: task head");
        assembler = fromChunks(header, { maxBytes, buffer: pool && ((n) => pool.take(n)) });
      } else {
        if (!assembler) throw new WireError("Stream sent data before its header message");
        if (assembler.received === 0) traceTransfer("node: first data");
        assembler.push(part.data);
      }
      if (task && assembler && assembler.received === total) {
        traceTransfer("node: assembled");
        const envelope = {
          taskId: task.taskId,
          experiment: task.experiment,
          body: toTaskBody(task, assembler.finish()),
        };
        task = undefined;
        assembler = undefined;
        unread = undefined;
        yield envelope;
      }
    }
    // Ending half-way through a task's parameters is a broken task.
    assembler?.finish();
  } catch (error) {
    if (unread && error instanceof WireError) throw new UnreadableTaskError(unread, error.message);
    throw error;
  }
}

/** The chunk a researcher sends as soon as it accepts a poll, so the node knows it is connected. */
export function pollAccepted(): TaskChunk {
  return create(TaskChunkSchema, {});
}

/**
 * The empty chunk a researcher sends after each task on a kept-open stream. A stream's pipeline holds
 * on to the last message it carried until the next one passes (for a parameter chunk: its serialized
 * copies, a few MiB per node); this small one pushes it out while the stream waits for the next task.
 */
export function taskEnd(): TaskChunk {
  return create(TaskChunkSchema, {});
}

/** The task and data chunks of a stream; an empty chunk other than the first goes to `onMark`, or is an error. */
async function* parts(stream: AsyncIterable<TaskChunk>, onOpen?: () => void, onMark?: () => void) {
  let first = true;
  for await (const chunk of stream) {
    if (first && chunk.part.case === undefined) {
      onOpen?.();
      first = false;
      continue;
    }
    first = false;
    if (chunk.part.case === "task") yield { kind: "message" as const, message: chunk.part.value };
    else if (chunk.part.case === "data") yield { kind: "data" as const, data: chunk.part.value };
    else if (onMark) onMark();
    else throw new WireError("Task stream carries an empty chunk");
  }
}

function toTaskBody(task: Task, params: NamedTensor[]): TaskBody {
  const kind = task.kind;
  switch (kind.case) {
    case "ping":
      return { kind: "ping" };
    case "list":
      return { kind: "list" };
    case "search":
      return { kind: "search", tags: [...kind.value.tags] };
    case "stats":
      return {
        kind: "stats",
        datasetId: kind.value.datasetId,
        planJson: kind.value.planJson,
        ...preparationOf(kind.value.preparationJson),
      };
    case "analytics":
      return fromAnalyticsTask(kind.value);
    case "clinical":
      return fromClinicalTask(kind.value);
    case "secagg":
      return fromSecaggTask(kind.value);
    case "train": {
      const t = kind.value;
      const a = t.args;
      if (!a) throw new WireError("Train task has no training arguments");
      const n = t.normalization;
      return {
        kind: "train",
        datasetId: t.datasetId,
        planId: t.planId,
        planJson: t.planJson,
        round: t.round,
        args: {
          epochs: a.epochs,
          updates: a.updates,
          batchSize: a.batchSize,
          testRatio: a.testRatio,
          testOnGlobal: a.testOnGlobal,
          testOnLocal: a.testOnLocal,
          metrics: [...a.metrics],
          seed: a.seed,
          fedproxMu: a.fedproxMu,
          ...(a.dp ? { dp: fromDpArgs(a.dp) } : {}),
        },
        normalization: n?.method
          ? {
              method: n.method as "none" | "standard" | "minmax",
              columns: [...n.columns],
              shift: [...n.shift],
              scale: [...n.scale],
            }
          : undefined,
        ...preparationOf(t.preparationJson),
        params,
        ...(t.secagg?.session ? { secagg: fromMasking(t.secagg) } : {}),
        ...extensionOf(t.algorithmExtension),
        // Any other value (a later researcher's) reads as "needs each update": a relay then refuses.
        ...(t.aggregation === "weighted_mean" ? { aggregation: "weighted_mean" as const } : {}),
      };
    }
    default:
      throw new WireError("Task of an unknown kind (is this node older than the researcher?)");
  }
}

function fromDpArgs(dp: DpArgsPb): DpArgs {
  if (dp.mode !== "local" && dp.mode !== "central") throw new WireError(`Unknown DP mode "${dp.mode}"`);
  return {
    mode: dp.mode,
    noiseMultiplier: dp.noiseMultiplier,
    clipNorm: dp.clipNorm,
    delta: dp.delta,
    ...(dp.sampleRate > 0 ? { sampleRate: dp.sampleRate } : {}),
  };
}

function preparationJson(preparation: TablePreparation | undefined): string {
  return preparation ? canonicalJson(preparation) : "";
}

/** `{preparation}` from a task's JSON field, `{}` when it is empty; a malformed one is a WireError. */
function preparationOf(json: string): { preparation?: TablePreparation } {
  if (json === "") return {};
  try {
    return { preparation: parsePreparation(JSON.parse(json)) };
  } catch (error) {
    throw new WireError(
      `The task's table preparation is invalid: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** `algorithm_extension` read back: "" (none named, or an older researcher) leaves it absent. */
function extensionOf(name: string): { algorithmExtension?: AlgorithmExtension } {
  if (name === "") return {};
  if (!(algorithmExtensions as readonly string[]).includes(name)) {
    throw new WireError(
      `Train task names an unknown algorithm extension ${JSON.stringify(name)} (is this node older than the researcher?)`,
    );
  }
  return { algorithmExtension: name as AlgorithmExtension };
}
