import type { Readable } from "node:stream";
import { fromBinary } from "@bufbuild/protobuf";
import { type SessionRequest, SessionRequestSchema } from "../gen/fbm/v1/researcher_pb.js";
import { createFrameReader } from "./grpc-frames.js";
import { pullItems } from "./stream-pull.js";
import { WireError } from "./wire-error.js";

/**
 * The Session requests of a gRPC request body as they arrive (researcher/server/session-stream.ts),
 * parsed in the body's `data` events (grpc-frames.ts; no async iteration per HTTP/2 frame): a reply's
 * 1 MiB data chunk is copied once, from the stream's chunks into a buffer of its own, and its ReplyChunk
 * is a view of that buffer (which a foldable aggregator keeps as it is until the reply is whole).
 * Pulled one at a time: once a request is parsed and not pulled the body is paused, so a reply the
 * researcher is not ready to read leaves its bytes in the HTTP/2 stream's flow-control window.
 * WireLimitError for a message over `maxBytes`, WireError for a compressed or malformed one, or a body
 * that ends inside a message or breaks off.
 */
export function readSessionRequests(body: Readable, maxBytes: number): AsyncIterableIterator<SessionRequest> {
  const reader = createFrameReader({ maxBytes, what: "A Session request" });
  return pullItems<SessionRequest>(body, {
    parse: (chunk, push) => reader.push(chunk, (event) => push(parse(event.bytes), event.bytes.byteLength)),
    end: () => reader.end(),
    broken: (error) => new WireError(`The Session request body broke off${error ? `: ${error.message}` : ""}`),
    highWaterBytes: 1,
  });
}

function parse(message: Uint8Array): SessionRequest {
  try {
    return fromBinary(SessionRequestSchema, message);
  } catch (error) {
    throw new WireError(`A Session request is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
