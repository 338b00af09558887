/**
 * Receive buffers that live from one round to the next (issue 29, streaming). A receiver that copies a
 * task's or a reply's parameters into a fresh buffer every round pays for the kernel's first touch of
 * every page of it (on the 2-core VM the benches run on, 0.5–1.5 ms per MiB: most of what receiving
 * costs beyond bare node:http2); a buffer taken back after a round is written again without faults.
 *
 * A buffer is handed out for exactly the bytes a stream's head announces and still holds its previous
 * round's bytes: the assembler that fills it (`fromChunks` in tensor-bytes.ts) writes every byte in order
 * and fails a stream that ends short, so a whole result never shows bytes of an earlier round. Only the
 * owner of what was built on a buffer knows when nothing reads it any more: it gives it back with
 * `release` (a buffer this pool did not hand out, or one given back already, is ignored). Bounded:
 * at most `maxBuffers` free buffers and `maxBytes` bytes are kept, the oldest dropped first.
 */
export interface BufferPool {
  /** A buffer of `bytes` bytes: a given-back one of that size if any (its old bytes in it), else fresh. */
  take(bytes: number): Uint8Array;
  /** Gives back the buffer a `take` returned (any view of it); false when it was not out from this pool. */
  release(buffer: ArrayBufferLike): boolean;
  /** Drops every free buffer (the experiment ended); buffers still out are ignored when given back. */
  clear(): void;
  /** Bytes kept free now. */
  readonly keptBytes: number;
}

export interface BufferPoolOptions {
  /** Free buffers kept at most (default 2: the current round's and the next's). */
  maxBuffers?: number;
  /** Free bytes kept at most (default 256 MiB). */
  maxBytes?: number;
}

export function createBufferPool(options: BufferPoolOptions = {}): BufferPool {
  const maxBuffers = options.maxBuffers ?? 2;
  const maxBytes = options.maxBytes ?? 256 << 20;
  /** Free buffers, oldest first. */
  let free: ArrayBuffer[] = [];
  /** Buffers handed out and not given back, of this pool's current generation (`clear` starts a new one). */
  let out = new WeakSet<ArrayBufferLike>();
  let keptBytes = 0;
  return {
    take(bytes) {
      const at = free.findIndex((b) => b.byteLength === bytes);
      const buffer = at >= 0 ? free.splice(at, 1)[0] : new ArrayBuffer(bytes);
      if (at >= 0) keptBytes -= bytes;
      out.add(buffer);
      return new Uint8Array(buffer);
    },
    release(buffer) {
      if (!out.has(buffer)) return false;
      out.delete(buffer);
      if (buffer.byteLength > maxBytes) return true;
      free.push(buffer as ArrayBuffer);
      keptBytes += buffer.byteLength;
      while (free.length > maxBuffers || keptBytes > maxBytes) keptBytes -= (free.shift() as ArrayBuffer).byteLength;
      return true;
    },
    clear() {
      free = [];
      out = new WeakSet();
      keptBytes = 0;
    },
    get keptBytes() {
      return keptBytes;
    },
  };
}

/**
 * One pool per experiment, for one experiment at a time (a node works for one at a time): asking for
 * another experiment's pool drops the previous one's buffers, as the end of an experiment does.
 */
export interface ExperimentBuffers {
  /** The pool of `experiment` (dropping another experiment's). */
  of(experiment: string): BufferPool;
  /** Drops `experiment`'s pool (its experiment ended). */
  end(experiment: string): void;
}

export interface ExperimentBuffersOptions extends BufferPoolOptions {
  /**
   * Drops the pool's buffers after this long without a take or a give-back (default: never): a node
   * whose experiment ended, which it is never told, does not hold a model-sized buffer for good.
   */
  idleMs?: number;
}

export function createExperimentBuffers(options: ExperimentBuffersOptions = {}): ExperimentBuffers {
  let current: { experiment: string; pool: BufferPool } | undefined;
  let idle: NodeJS.Timeout | undefined;
  const end = (experiment: string) => {
    if (current?.experiment !== experiment) return;
    current.pool.clear();
    current = undefined;
  };
  return {
    of(experiment) {
      if (current?.experiment !== experiment) {
        current?.pool.clear();
        current = { experiment, pool: createBufferPool(options) };
      }
      if (options.idleMs !== undefined) {
        clearTimeout(idle);
        idle = setTimeout(() => end(experiment), options.idleMs);
        idle.unref();
      }
      return current.pool;
    },
    end,
  };
}

/**
 * One task's (or reply's) pooled buffer, from the moment it is filled until its owner settles it: given
 * back once its values have been copied into memory the owner keeps (`release`), or adopted out of the
 * pool for good when whoever reads it may keep views of it (`adopt`: the pool never sees it again, the
 * next round takes a fresh buffer). Either settles it, once: a `release` after `adopt` (a late caller,
 * a path that kept a view after all) is ignored, so a buffer that may still be read never comes back.
 */
export interface BufferLease {
  /** Gives the buffer back to the pool; true when this call did (false: settled already, or none). */
  release(): boolean;
  /** Settles the buffer without giving it back (also after a release: then it changes nothing). */
  adopt(): void;
  /** Whether neither has been called yet. */
  readonly open: boolean;
}

/**
 * The lease of the buffer `views` share (every tensor a `fromChunks` assembly returns is a view of its one
 * buffer); no views, or views of a buffer `pool` did not hand out: a lease that releases nothing.
 */
export function leaseOf(pool: BufferPool, views: readonly { data: ArrayBufferView }[]): BufferLease {
  const buffer = views[0]?.data.buffer;
  let open = true;
  return {
    release() {
      if (!open) return false;
      open = false;
      return buffer !== undefined && pool.release(buffer);
    },
    adopt() {
      open = false;
    },
    get open() {
      return open;
    },
  };
}
