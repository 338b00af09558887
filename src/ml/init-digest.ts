import { createHash } from "node:crypto";
import type { NamedTensor } from "./types.js";

/**
 * The digest of a model's initial weights (`plan.init`): sha256 over each tensor's name, dtype, shape
 * and little-endian values, in order. The plan id covers it, so a node approves the weights it starts
 * from, and checks the round-1 weights it receives against it.
 */
export function weightsDigest(params: readonly NamedTensor[]): string {
  const hash = createHash("sha256");
  for (const t of params) {
    hash.update(`${JSON.stringify([t.name, t.dtype, t.shape])}\n`);
    const data = t.dtype === "int32" ? Int32Array.from(t.data) : Float32Array.from(t.data);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest("hex");
}
