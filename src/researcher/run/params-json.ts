import type { NamedTensor } from "../../ml/types.js";

/** Tensors as JSON-safe values for breakpoints: the raw little-endian bytes in base64 (bit-exact). */
export function encodeParams(
  params: NamedTensor[],
): { name: string; shape: number[]; dtype: string; base64: string }[] {
  return params.map((t) => ({
    name: t.name,
    shape: t.shape,
    dtype: t.dtype,
    base64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64"),
  }));
}

export function decodeParams(encoded: ReturnType<typeof encodeParams>): NamedTensor[] {
  return encoded.map((t) => {
    const bytes = Buffer.from(t.base64, "base64");
    const copy = new Uint8Array(bytes).buffer;
    const data = t.dtype === "int32" ? new Int32Array(copy) : new Float32Array(copy);
    return { name: t.name, shape: t.shape, dtype: t.dtype === "int32" ? "int32" : "float32", data };
  });
}

/** Bytes of a tensor per base64 piece: a multiple of 3, so the pieces' base64 joins into the whole's. */
const PIECE_BYTES = 3 * 256 * 1024;

/**
 * The JSON text of `{"params": encodeParams(params), ...rest}` in pieces of at most 1 MiB, each made
 * when pulled (run-folder writes them one after another): the same text as JSON.stringify, without a
 * model-sized base64 string, its copy inside the whole text, and that text's bytes. At 1M parameters
 * those were ~16 MB of heap at each round's end, when the round's sum and new weights are alive too.
 */
export function* jsonWithParams(params: NamedTensor[], rest: Record<string, unknown>): Generator<string> {
  yield '{"params":[';
  for (const [i, t] of params.entries()) {
    const head = JSON.stringify({ name: t.name, shape: t.shape, dtype: t.dtype, base64: "" });
    yield `${i > 0 ? "," : ""}${head.slice(0, -2)}`; // up to the base64 string's opening quote
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let at = 0; at < bytes.length; at += PIECE_BYTES)
      yield bytes.subarray(at, at + PIECE_BYTES).toString("base64");
    yield '"}';
  }
  const others = JSON.stringify(rest);
  yield others === "{}" ? "]}" : `],${others.slice(1)}`;
}
