import { fromBinary } from "@bufbuild/protobuf";
import { type SessionRequest, SessionRequestSchema } from "../gen/fbm/v1/researcher_pb.js";
import { WireError, WireLimitError } from "./wire-error.js";

/**
 * The Session requests of a gRPC request body as they arrive (researcher/server/session-stream.ts):
 * each 5-byte prefix (flags, length big-endian) and its message, parsed with the generated code.
 * Pulled one at a time from the body's async iterator, so a reply the researcher is not ready to read
 * leaves its bytes in the HTTP/2 stream's flow-control window instead of in memory here.
 * WireLimitError for a message over `maxBytes`, WireError for a compressed or malformed one, or a body
 * that ends inside a message.
 */
export async function* readSessionRequests(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<SessionRequest> {
  const pending: Uint8Array[] = [];
  let size = 0;
  /** Takes `n` bytes off the front of what is pending (n ≤ size). */
  const take = (n: number): Uint8Array => {
    const first = pending[0];
    if (first.byteLength >= n) {
      if (first.byteLength === n) pending.shift();
      else pending[0] = first.subarray(n);
      size -= n;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const part = pending[0];
      const used = Math.min(part.byteLength, n - at);
      out.set(part.subarray(0, used), at);
      at += used;
      if (used === part.byteLength) pending.shift();
      else pending[0] = part.subarray(used);
    }
    size -= n;
    return out;
  };
  let want: { length: number } | undefined;
  for await (const part of body) {
    pending.push(part);
    size += part.byteLength;
    for (;;) {
      if (!want) {
        if (size < 5) break;
        const prefix = take(5);
        const flags = prefix[0];
        const length = new DataView(prefix.buffer, prefix.byteOffset, 5).getUint32(1);
        if (flags !== 0)
          throw new WireError(`A Session request has message flags ${flags} (compressed, or not a message)`);
        if (length > maxBytes) throw new WireLimitError(`A Session request is larger than ${maxBytes} bytes`);
        want = { length };
      }
      if (size < want.length) break;
      const message = want.length === 0 ? new Uint8Array(0) : take(want.length);
      want = undefined;
      yield parse(message);
    }
  }
  if (want || size > 0) throw new WireError("The Session request body ended inside a message");
}

function parse(message: Uint8Array): SessionRequest {
  try {
    return fromBinary(SessionRequestSchema, message);
  } catch (error) {
    throw new WireError(`A Session request is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
