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

/**
 * Reads a stream of `{header message, data, data, …}` parts: the first part must be the header
 * message, every later one data. Returns the message and its tensors, or undefined for an empty stream.
 * `headerOf` may wait (a reply waiting for room to be received): the stream is not read meanwhile.
 * `sinkFor` may take the data instead of the whole-payload assembly (`fromChunks`); the tensors
 * returned are then whatever its `finish` returns.
 */
export async function readHeadedStream<M>(
  parts: AsyncIterable<{ kind: "message"; message: M } | { kind: "data"; data: Uint8Array }>,
  headerOf: (message: M) => ParamsHeader | Promise<ParamsHeader>,
  options: { maxBytes?: number; sinkFor?: (message: M, header: ParamsHeader) => ParamsAssembler | undefined } = {},
): Promise<{ message: M; params: NamedTensor[] } | undefined> {
  let message: M | undefined;
  let assembler: ParamsAssembler | undefined;
  for await (const part of parts) {
    if (part.kind === "message") {
      if (message !== undefined) throw new WireError("Stream carries a second header message");
      message = part.message;
      const header = await headerOf(message);
      assembler = options.sinkFor?.(message, header) ?? fromChunks(header, options);
    } else {
      if (!assembler) throw new WireError("Stream sent data before its header message");
      assembler.push(part.data);
    }
  }
  if (message === undefined || !assembler) return undefined;
  return { message, params: assembler.finish() };
}
