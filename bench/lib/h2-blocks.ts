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

/** One reused receive buffer per size (touched once, when made), for the legs that keep the bytes. */
const kept = new Map<number, Uint8Array>();

/**
 * The `data` handler of a bare receiver: drops the bytes, or with `keep` copies them, in order, into one
 * buffer of `mib` MiB reused from run to run (the explanatory "keeping the bytes" legs: what a receiver
 * that must hold the bytes pays at least, without first touches of fresh memory).
 */
export function receiveBlocks(mib: number, keep: boolean): (chunk: Uint8Array) => void {
  if (!keep) return () => {};
  let buffer = kept.get(mib);
  if (!buffer) {
    buffer = new Uint8Array(mib << 20).fill(0);
    kept.set(mib, buffer);
  }
  const into = buffer;
  let at = 0;
  return (chunk) => {
    into.set(chunk, at);
    at += chunk.byteLength;
  };
}
