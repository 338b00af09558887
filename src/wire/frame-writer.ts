import type { Http2Stream } from "node:http2";

/**
 * Bytes queued on a stream before a writer waits for it to drain: a few 1 MiB chunks, so the socket never
 * runs dry while the writer's event loop is elsewhere (waiting for `drain`, or for each write's callback,
 * after every chunk left the connection idle for an event-loop turn per chunk, which on a busy 2-core
 * machine is most of the transfer). Parameter bytes are written as views of the tensors (no copy), so
 * what is queued costs no memory of its own; the peer's stream window still bounds what is in flight.
 */
export const QUEUED_BYTES = 4 << 20;

/**
 * Writes one gRPC frame (its byte runs, in one go) and waits while more than QUEUED_BYTES are queued.
 * Resolves false when the stream is or gets closed before it drained (the peer went away, or the call
 * was cancelled): the caller stops writing and reports its own error.
 */
export function writeFrame(stream: Http2Stream, frame: readonly Uint8Array[]): Promise<boolean> {
  if (stream.closed || stream.destroyed) return Promise.resolve(false);
  stream.cork();
  for (const bytes of frame) stream.write(bytes);
  stream.uncork();
  if (stream.writableLength <= QUEUED_BYTES) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onDrain = () => {
      stream.off("close", onClose);
      resolve(true);
    };
    const onClose = () => {
      stream.off("drain", onDrain);
      resolve(false);
    };
    stream.once("drain", onDrain);
    stream.once("close", onClose);
  });
}
