import { appendFileSync } from "node:fs";

/**
 * An audit trail of what nodes sent: one JSON line per message, typed arrays replaced by their
 * length so the file shows structure and metadata, not model weights. Int32 arrays are written out
 * (base64 of their little-endian words): model weights are float32, and the int32 tensors nodes send
 * are secure aggregation's masked inputs, which an auditor can check look like noise.
 */
export function createTrace(path: string): (message: { rpc: string; value: unknown }) => void {
  return (message) => {
    const line = JSON.stringify({ at: new Date().toISOString(), ...message }, (_key, v) =>
      v instanceof Int32Array
        ? {
            typedArray: "Int32Array",
            length: v.length,
            base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64"),
          }
        : ArrayBuffer.isView(v)
          ? { typedArray: v.constructor.name, length: (v as Float32Array).length }
          : v,
    );
    appendFileSync(path, `${line}\n`);
  };
}
