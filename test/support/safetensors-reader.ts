/** An independent reader written from the format's description, not from the writer. */
export function readSafetensors(bytes: Uint8Array): {
  metadata?: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
} {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buffer.readBigUInt64LE(0));
  const header = JSON.parse(buffer.subarray(8, 8 + n).toString("utf8"));
  const data = buffer.subarray(8 + n);
  const tensors: Record<string, { dtype: string; shape: number[]; values: number[] }> = {};
  for (const [name, info] of Object.entries<any>(header)) {
    if (name === "__metadata__") continue;
    const [begin, end] = info.data_offsets;
    const values: number[] = [];
    for (let at = begin; at < end; at += 4)
      values.push(info.dtype === "I32" ? data.readInt32LE(at) : data.readFloatLE(at));
    tensors[name] = { dtype: info.dtype, shape: info.shape, values };
  }
  return { metadata: header.__metadata__, tensors };
}
