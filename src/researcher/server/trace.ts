import { appendFileSync } from "node:fs";

/**
 * An audit trail of what nodes sent: one JSON line per message, typed arrays replaced by their
 * length so the file shows structure and metadata, not model weights.
 */
export function createTrace(path: string): (message: { rpc: string; value: unknown }) => void {
  return (message) => {
    const line = JSON.stringify({ at: new Date().toISOString(), ...message }, (_key, v) =>
      ArrayBuffer.isView(v) ? { typedArray: v.constructor.name, length: (v as Float32Array).length } : v,
    );
    appendFileSync(path, `${line}\n`);
  };
}
