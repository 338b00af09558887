import type { backend_util, DataType, TensorInfo } from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** Typed-array views onto the wasm heap for a kernel's inputs and its freshly made, zeroed output. */
export interface HeapViews {
  inputs: backend_util.TypedArray[];
  output: Float32Array;
  outInfo: TensorInfo;
}

/**
 * Allocates the output, then takes views of inputs and output without copying.
 * Order matters: allocating (or moving an input in from another backend) can grow the wasm memory,
 * which detaches every earlier view, so all allocation happens before the first view is taken.
 */
export function heapViews(
  backend: BackendWasm,
  inputs: TensorInfo[],
  outShape: number[],
  outDtype: DataType = "float32",
): HeapViews {
  for (const input of inputs) backend.dataIdMap.get(input.dataId);
  const outInfo = backend.makeOutput(outShape, outDtype);
  const output = backend.typedArrayFromHeap(outInfo) as Float32Array;
  output.fill(0);
  return { inputs: inputs.map((input) => backend.typedArrayFromHeap(input)), output, outInfo };
}
