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
