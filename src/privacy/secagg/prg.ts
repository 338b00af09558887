import { createCipheriv } from "node:crypto";

/**
 * The PRG of Bonawitz et al. (CCS 2017, §4): a 32-byte seed expanded into `length` uniform 32-bit words
 * by the AES-256-CTR keystream (zero IV: each seed is used for one vector only).
 */
export function expandSeed(seed: Uint8Array, length: number): Uint32Array {
  const cipher = createCipheriv("aes-256-ctr", seed, Buffer.alloc(16));
  const stream = cipher.update(Buffer.alloc(length * 4));
  // The keystream's bytes read as host-order words: both ends run this same code, so they agree.
  return new Uint32Array(stream.buffer, stream.byteOffset, length);
}

/** target += sign · PRG(seed), modulo 2^32, word by word. */
export function addMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  const mask = expandSeed(seed, target.length);
  if (sign === 1) for (let i = 0; i < target.length; i++) target[i] += mask[i];
  else for (let i = 0; i < target.length; i++) target[i] -= mask[i];
}
