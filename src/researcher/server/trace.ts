import { appendFileSync } from "node:fs";
import { errorMessage, InputError } from "../../common/errors.js";

/**
 * An audit trail of what nodes sent: one JSON line per message, typed arrays replaced by their
 * length so the file shows structure and metadata, not model weights. Int32 arrays are written out
 * (base64 of their little-endian words): model weights are float32, and the int32 tensors nodes send
 * are secure aggregation's masked inputs, which an auditor can check look like noise.
 */
export function createTrace(
  path: string,
  options: { warn?: (line: string) => void } = {},
): (message: { rpc: string; value: unknown }) => void {
  // Checked before anyone is served (an unwritable --trace is bad input); private whatever the umask.
  try {
    appendFileSync(path, "", { mode: 0o600 });
  } catch (error) {
    throw new InputError(`Cannot write the trace file ${path}: ${errorMessage(error)}; fix: choose another --trace`);
  }
  let failed = false;
  return (message) => {
    if (failed) return;
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
    try {
      appendFileSync(path, `${line}\n`, { mode: 0o600 });
    } catch (error) {
      // A side output: the run goes on without it, and says so once.
      failed = true;
      options.warn?.(`Warning: stopped writing the trace file ${path}: ${errorMessage(error)}`);
    }
  };
}
