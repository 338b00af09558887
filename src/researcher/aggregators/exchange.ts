import type { TensorExchange } from "./types.js";

/** Send the global model, read back the trained model: every aggregator but SCAFFOLD. */
export const plainExchange: TensorExchange = {
  outgoing: (global) => global,
  expected: (global) => global,
  read: ({ nodeId, samples, tensors }) => ({ nodeId, samples, params: tensors }),
  foldable: true,
};
