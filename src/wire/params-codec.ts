import { create } from "@bufbuild/protobuf";
import { DType, type ParamsHeader as ParamsHeaderPb, ParamsHeaderSchema } from "../gen/fbm/v1/researcher_pb.js";
import type { NamedTensor } from "../ml/types.js";
import { fromChunks, type ParamsAssembler, type ParamsHeader } from "./tensor-bytes.js";
import { WireError } from "./wire-error.js";

/** Protobuf <-> plain tensor header. */
export function toHeaderPb(header: ParamsHeader): ParamsHeaderPb {
  return create(ParamsHeaderSchema, {
    tensors: header.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype === "int32" ? DType.INT32 : DType.FLOAT32,
    })),
    totalBytes: BigInt(header.totalBytes),
  });
}

export function fromHeaderPb(pb: ParamsHeaderPb | undefined): ParamsHeader {
  if (!pb) return { tensors: [], totalBytes: 0 };
  return {
    tensors: pb.tensors.map((t) => {
      if (t.dtype !== DType.FLOAT32 && t.dtype !== DType.INT32) {
        throw new WireError(`Tensor "${t.name}" has an unknown dtype (${t.dtype})`);
      }
      return {
        name: t.name,
        shape: [...t.shape],
        dtype: t.dtype === DType.INT32 ? ("int32" as const) : ("float32" as const),
      };
    }),
    totalBytes: Number(pb.totalBytes),
  };
}

/** The options of a headed stream's reader (see `createHeadedReader`). */
export interface HeadedReadOptions<M> {
  maxBytes?: number;
  /** May take the data instead of the whole-payload assembly (`fromChunks`); the tensors are then whatever its `finish` returns. */
  sinkFor?: (message: M, header: ParamsHeader) => ParamsAssembler | undefined;
}

/**
 * Reads a stream of `{header message, data, data, …}` parts pushed to it as they arrive: the first
 * part must be the header message, every later one data. `headerOf` may wait (a reply waiting for room
 * to be received): `message` then returns its promise, and the caller pushes nothing more (reads
 * nothing more of its stream) until it settles.
 */
export interface HeadedReader<M> {
  message(message: M): Promise<void> | undefined;
  /** Data bytes, in any pieces (a piece is the assembler's to keep). */
  data(bytes: Uint8Array): void;
  /** The stream ended: the message and its tensors, or undefined for an empty stream. */
  end(): { message: M; params: NamedTensor[] } | undefined;
}

export function createHeadedReader<M>(
  headerOf: (message: M) => ParamsHeader | Promise<ParamsHeader>,
  options: HeadedReadOptions<M> = {},
): HeadedReader<M> {
  let message: M | undefined;
  let assembler: ParamsAssembler | undefined;
  const start = (m: M, header: ParamsHeader) => {
    assembler = options.sinkFor?.(m, header) ?? fromChunks(header, options);
  };
  return {
    message(m) {
      if (message !== undefined) throw new WireError("Stream carries a second header message");
      message = m;
      const header = headerOf(m);
      if (!(header instanceof Promise)) {
        start(m, header);
        return undefined;
      }
      return header.then((h) => start(m, h));
    },
    data(bytes) {
      if (!assembler) throw new WireError("Stream sent data before its header message");
      assembler.push(bytes);
    },
    end() {
      if (message === undefined || !assembler) return undefined;
      return { message, params: assembler.finish() };
    },
  };
}

/** `createHeadedReader` over an async stream of parts. Returns the message and its tensors, or undefined for an empty stream. */
export async function readHeadedStream<M>(
  parts: AsyncIterable<{ kind: "message"; message: M } | { kind: "data"; data: Uint8Array }>,
  headerOf: (message: M) => ParamsHeader | Promise<ParamsHeader>,
  options: HeadedReadOptions<M> = {},
): Promise<{ message: M; params: NamedTensor[] } | undefined> {
  const reader = createHeadedReader(headerOf, options);
  for await (const part of parts) {
    if (part.kind === "data") reader.data(part.data);
    else await reader.message(part.message);
  }
  return reader.end();
}
