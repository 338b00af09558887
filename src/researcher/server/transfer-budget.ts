/**
 * A bound on parameter bytes being received at once. Each admitted reply asks for its size before
 * its bytes are read; while it waits, its stream is simply not read, so HTTP/2 flow control stops the
 * node after one narrow stream window, 64 KiB (wire/http2-windows.ts). A thousand nodes replying at the
 * same moment then cost the budget plus 64 KiB each, not a thousand models. First come, first served.
 */
export interface TransferBudget {
  /** Waits for `bytes` of room (a transfer larger than the whole budget runs alone); resolves with its release. */
  acquire(bytes: number, signal?: AbortSignal): Promise<() => void>;
  /** `bytes` of room now, as `acquire` would grant it at once (its release), or undefined when it would wait. */
  tryAcquire(bytes: number): (() => void) | undefined;
  readonly inFlight: number;
  readonly waiting: number;
}

/**
 * Default bytes in flight: 32 MiB, a fixed cap rather than a multiple of the model. A reply being
 * received holds up to its own size (a folded reply keeps a copy of its bytes until it is whole, to
 * take them back if it goes wrong, in take-back storage bounded by this budget; see run/reply-fold.ts),
 * so this is the receive side's memory whatever the node count.
 * It lets 8 replies of a 1M-parameter model, or 800 of a 10k one, arrive at once. It was 64 MiB:
 * 100 nodes × 1M peaked 200–204 MiB of rss at 32 against 212–270 at 64 (issue 29, loaded 2-core
 * machine); an earlier pair of runs had 32 MiB's rounds 10–20% slower at that size, a waiting reply
 * being held at its node, not in this process. A larger reply runs alone.
 */
export const DEFAULT_TRANSFER_BUDGET = 32 * 1024 * 1024;

export function createTransferBudget(maxBytes = DEFAULT_TRANSFER_BUDGET): TransferBudget {
  let inFlight = 0;
  const queue: { bytes: number; grant: () => void }[] = [];

  const fits = (bytes: number) => inFlight === 0 || inFlight + bytes <= maxBytes;

  function pump(): void {
    while (queue.length > 0 && fits(queue[0].bytes)) queue.shift()?.grant();
  }

  function take(bytes: number): () => void {
    inFlight += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      inFlight -= bytes;
      pump();
    };
  }

  const tryAcquire = (bytes: number) =>
    bytes <= 0 ? () => {} : queue.length === 0 && fits(bytes) ? take(bytes) : undefined;

  return {
    tryAcquire,
    acquire(bytes, signal) {
      if (bytes <= 0) return Promise.resolve(() => {});
      signal?.throwIfAborted();
      const now = tryAcquire(bytes);
      if (now) return Promise.resolve(now);
      return new Promise((resolve, reject) => {
        const entry = {
          bytes,
          grant: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve(take(bytes));
          },
        };
        const onAbort = () => {
          const at = queue.indexOf(entry);
          if (at >= 0) queue.splice(at, 1);
          reject(signal?.reason);
          pump();
        };
        queue.push(entry);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return queue.length;
    },
  };
}
