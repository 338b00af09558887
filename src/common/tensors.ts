/**
 * The tensor shape every layer shares (ml, privacy, the aggregators, the wire): flat data with a name,
 * shape and dtype. A base module: no tfjs, no protobuf, no imports.
 */

export type DTypeName = "float32" | "int32";

/** One named tensor as flat data; `data.length` equals the product of `shape` (1 for a scalar). */
export interface NamedTensor {
  name: string;
  shape: number[];
  dtype: DTypeName;
  data: Float32Array | Int32Array;
}
