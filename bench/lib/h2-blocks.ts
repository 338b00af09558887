import type { Writable } from "node:stream";

/**
 * What both ends of the bare node:http2 yardstick (h2-baseline.ts, h2-peer.ts) do to send: `count`
 * writes of one reused 1 MiB block, waiting for "drain" whenever the stream's buffer is full, then end.
 */
export function writeBlocks(stream: Writable, block: Uint8Array, count: number): void {
  let left = count;
  const write = () => {
    while (left > 0) {
      left--;
      if (!stream.write(block)) return void stream.once("drain", write);
    }
    stream.end();
  };
  write();
}

/** Epoch milliseconds, comparable between the two processes (performance.timeOrigin + now). */
export const epochMs = (): number => performance.timeOrigin + performance.now();
