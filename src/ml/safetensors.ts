import type { NamedTensor } from "./types.js";

/**
 * The safetensors format (Hugging Face), for users of other frameworks: an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
 */
export function toSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.length * 4;
    header[t.name] = {
      dtype: t.dtype === "int32" ? "I32" : "F32",
      shape: t.shape,
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // the data starts 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++, at += 4) {
      if (t.dtype === "int32") view.setInt32(at, t.data[i], true);
      else view.setFloat32(at, t.data[i], true);
    }
  }
  return out;
}
