import { WireError, WireLimitError } from "./wire-error.js";

/**
 * A synchronous reader of gRPC length-prefixed messages (5 bytes: flags, then the length big-endian;
 * then the message) fed with the chunks of an HTTP/2 stream as they arrive, for the receive paths that
 * skip Connect's pipeline (wire/task-download.ts on the node, wire/session-frames.ts on the researcher).
 * Connect's reader copied every 16 KiB HTTP/2 frame into an envelope buffer through a chain of async
 * generators; here a chunk is parsed where it lies, in the `data` event that delivered it.
 *
 * A message is passed on whole (a view of the chunk when it lies in one, else copied once into a buffer
 * of its exact length), except a message whose only field is the bytes field at `dataPath` (a parameter
 * chunk): its bytes are passed on as they arrive, as views of the stream's own chunks, so the one copy
 * is the consumer's, into the tensors. `dataPath` names the field numbers from the outer message in
 * (TaskChunk.data is [2]; SessionRequest.reply.data is [2, 2]).
 */
export type FrameEvent =
  /** A whole message's bytes. */
  | { kind: "message"; bytes: Uint8Array }
  /**
   * Bytes of a data-only message's field, `size` bytes in all; `last` on its final piece (a message of
   * 0 data bytes has one, empty).
   */
  | { kind: "data"; bytes: Uint8Array; last: boolean; size: number };

export interface FrameReader {
  /** Parses `chunk`, passing each message (or data piece) to `emit` in order; throws WireError/WireLimitError. */
  push(chunk: Uint8Array, emit: (event: FrameEvent) => void): void;
  /** Throws WireError when the stream ended inside a message. */
  end(): void;
}

/** Longest field header of one level: a tag and a length, each a varint of at most 5 bytes. */
const LEVEL_HEADER_BYTES = 10;

export function createFrameReader(options: {
  /** Largest message accepted (WireLimitError past it). */
  maxBytes: number;
  /** What the messages are, for errors ("A Session request"). */
  what: string;
  dataPath?: readonly number[];
}): FrameReader {
  const { maxBytes, what } = options;
  let emit: (event: FrameEvent) => void = () => {};
  const dataPath = options.dataPath ?? [];
  const headWant = dataPath.length * LEVEL_HEADER_BYTES;
  /** Bytes gathered when a prefix or a data-only head straddles chunks. */
  const scratch = new Uint8Array(Math.max(5, headWant));
  let state: "prefix" | "head" | "data" | "message" = "prefix";
  let gathered = 0; // bytes in `scratch` (prefix, head) or in `message` (message)
  let length = 0; // the current message's length
  let left = 0; // bytes of the current message (or data field) still to come
  let message: Uint8Array | undefined;
  let size = 0; // the current data field's length

  /** The next message's prefix comes next. */
  const toPrefix = () => {
    state = "prefix";
    gathered = 0;
  };

  const startMessage = (flags: number, n: number) => {
    if (flags !== 0) throw new WireError(`${what} has message flags ${flags} (compressed, or not a message)`);
    if (n > maxBytes) throw new WireLimitError(`${what} is larger than ${maxBytes} bytes (${n})`);
    length = n;
    left = n;
    gathered = 0;
    if (n === 0) {
      emit({ kind: "message", bytes: new Uint8Array(0) });
      toPrefix();
    } else state = headWant > 0 ? "head" : "message";
  };

  /** Decides on a message's first `head` bytes (all of it, or at least headWant): data-only or whole. */
  const decide = (head: Uint8Array): number | undefined => dataHeaderLength(head, length, dataPath);

  /** Data-only message: its field header of `h` bytes is read; false when no data bytes follow. */
  const startData = (h: number): boolean => {
    left = length - h;
    size = left;
    state = "data";
    if (left > 0) return true;
    emit({ kind: "data", bytes: new Uint8Array(0), last: true, size });
    toPrefix();
    return false;
  };

  const takeMessage = (chunk: Uint8Array, at: number): number => {
    if (!message && gathered === 0 && chunk.byteLength - at >= left) {
      emit({ kind: "message", bytes: chunk.subarray(at, at + left) });
      toPrefix();
      return at + left;
    }
    message ??= new Uint8Array(length);
    const n = Math.min(left, chunk.byteLength - at);
    message.set(chunk.subarray(at, at + n), gathered);
    gathered += n;
    left -= n;
    if (left === 0) {
      const bytes = message;
      message = undefined;
      toPrefix();
      emit({ kind: "message", bytes });
    }
    return at + n;
  };

  return {
    push(chunk, to) {
      emit = to;
      let at = 0;
      while (at < chunk.byteLength) {
        switch (state) {
          case "prefix": {
            if (gathered === 0 && chunk.byteLength - at >= 5) {
              const view = new DataView(chunk.buffer, chunk.byteOffset + at, 5);
              at += 5;
              startMessage(view.getUint8(0), view.getUint32(1));
              break;
            }
            const n = Math.min(5 - gathered, chunk.byteLength - at);
            scratch.set(chunk.subarray(at, at + n), gathered);
            gathered += n;
            at += n;
            if (gathered === 5) startMessage(scratch[0], new DataView(scratch.buffer).getUint32(1));
            break;
          }
          case "head": {
            const want = Math.min(length, headWant);
            if (gathered === 0 && chunk.byteLength - at >= want) {
              const h = decide(chunk.subarray(at, at + want));
              if (h === undefined) {
                state = "message";
                break;
              }
              at += h;
              startData(h);
              break;
            }
            // The head straddles chunks: gather it (a few bytes), then decide.
            const n = Math.min(want - gathered, chunk.byteLength - at);
            scratch.set(chunk.subarray(at, at + n), gathered);
            gathered += n;
            at += n;
            if (gathered < want) break;
            const head = scratch.slice(0, want);
            const h = decide(head);
            gathered = 0;
            if (h === undefined) {
              // A whole message after all: it starts with the gathered head.
              message = new Uint8Array(length);
              message.set(head);
              gathered = want;
              left = length - want;
              state = "message";
              if (left === 0) {
                const bytes = message;
                message = undefined;
                toPrefix();
                emit({ kind: "message", bytes });
              }
              break;
            }
            if (startData(h) && want > h) {
              const rest = head.subarray(h);
              left -= rest.byteLength;
              if (left === 0) toPrefix();
              emit({ kind: "data", bytes: rest, last: left === 0, size });
            }
            break;
          }
          case "data": {
            const n = Math.min(left, chunk.byteLength - at);
            left -= n;
            const bytes = chunk.subarray(at, at + n);
            at += n;
            if (left === 0) toPrefix();
            emit({ kind: "data", bytes, last: left === 0, size });
            break;
          }
          case "message":
            at = takeMessage(chunk, at);
            break;
        }
      }
    },
    end() {
      if (state !== "prefix" || gathered > 0) throw new WireError(`The stream ended inside ${lower(what)}`);
    },
  };
}

function lower(what: string): string {
  return what.charAt(0).toLowerCase() + what.slice(1);
}

/**
 * When `head` (a message's first bytes: all of it, or at least 10 per level of `path`) opens a message of
 * `length` bytes whose only content is the bytes field at `path`, each level's length running to the
 * message's end: the length of those field headers. Otherwise undefined (the message is read whole).
 */
export function dataHeaderLength(head: Uint8Array, length: number, path: readonly number[]): number | undefined {
  let at = 0;
  let end = length; // where the current level's content ends (all levels end with the message)
  for (const field of path) {
    const tag = readVarint(head, at);
    if (!tag || tag.value !== field * 8 + 2) return undefined; // wire type 2: length-delimited
    const size = readVarint(head, tag.next);
    if (!size) return undefined;
    at = size.next;
    if (at + size.value !== end) return undefined;
    end = at + size.value;
  }
  return path.length > 0 ? at : undefined;
}

function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5 && at + i < bytes.byteLength; i++) {
    const b = bytes[at + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return { value, next: at + i + 1 };
  }
  return undefined;
}
