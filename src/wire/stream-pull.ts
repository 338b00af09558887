import type { Readable } from "node:stream";

/**
 * The items a readable stream's chunks parse into, pulled one at a time (grpc-frames.ts does the
 * parsing, synchronously, in each `data` event). An async iterator over the stream itself costs a chain
 * of promises per 16 KiB HTTP/2 frame; here a pull that finds an item ready costs one settled promise.
 * Flow control is kept: the stream is paused while `highWaterBytes` or more are parsed and not pulled,
 * so a consumer that stops pulling leaves the rest in the HTTP/2 window (Node acknowledges a stream's
 * bytes only as they are read), and resumed when a pull empties the queue.
 */
export interface PullOptions<T> {
  /** Parses a chunk, calling `push` for each item it completes (with the bytes it holds). */
  parse(chunk: Uint8Array, push: (item: T, bytes: number) => void): void;
  /** The stream ended: throws when that is too early (inside a message). */
  end(): void;
  /** The error of a stream that closed or failed before its end. */
  broken(error: Error | undefined): Error;
  highWaterBytes: number;
  /**
   * "close": the end is taken when the stream closes after its readable side ended, not at that end (a
   * client HTTP/2 stream reset by its peer ends first and tells its reset code only on close).
   */
  endOn?: "end" | "close";
  /**
   * The consumer stopped pulling before the end (`return`), or the stream failed: by default the rest
   * of the stream is read and dropped (so the peer is never left blocked on a paused stream); a caller
   * that can cancel the stream does.
   */
  stop?: () => void;
}

export function pullItems<T>(stream: Readable, options: PullOptions<T>): AsyncIterableIterator<T> {
  const queue: T[] = [];
  const sizes: number[] = [];
  let queuedBytes = 0;
  let head = 0; // index of the next item (the queue is compacted when it empties)
  let failure: Error | undefined;
  let ended = false;
  let waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;

  const push = (item: T, bytes: number) => {
    if (waiter && head === queue.length) {
      const w = waiter;
      waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    queue.push(item);
    sizes.push(bytes);
    queuedBytes += bytes;
  };
  const fail = (error: Error) => {
    if (failure || ended) return;
    failure = error;
    detach();
    abandon();
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.reject(error);
    }
  };
  const onData = (chunk: Uint8Array) => {
    try {
      options.parse(chunk, push);
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (queuedBytes >= options.highWaterBytes && head < queue.length && !waiter) stream.pause();
  };
  const onEnd = () => {
    try {
      options.end();
    } catch (error) {
      fail(error as Error);
      return;
    }
    ended = true;
    detach();
    if (waiter && head === queue.length) {
      const w = waiter;
      waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  };
  const onError = (error: Error) => fail(options.broken(error));
  const onClose = () => {
    if (!stream.readableEnded) fail(options.broken(undefined));
    else if (options.endOn === "close") onEnd();
  };
  const abandon = () => {
    if (options.stop) options.stop();
    else stream.resume();
  };
  const detach = () => {
    stream.off("data", onData);
    stream.off("end", onEnd);
    stream.off("error", onError);
    stream.off("close", onClose);
  };
  stream.on("data", onData);
  if (options.endOn !== "close") stream.once("end", onEnd);
  stream.once("error", onError);
  stream.once("close", onClose);

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (head < queue.length) {
        const value = queue[head];
        queuedBytes -= sizes[head];
        head++;
        if (head === queue.length) {
          queue.length = 0;
          sizes.length = 0;
          head = 0;
          if (stream.isPaused() && !ended && !failure) stream.resume();
        }
        return Promise.resolve({ value, done: false });
      }
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.resolve({ value: undefined, done: true });
      if (stream.isPaused()) stream.resume();
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return() {
      detach();
      const stopped = !ended && !failure;
      ended = true;
      queue.length = 0;
      if (stopped) abandon();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
