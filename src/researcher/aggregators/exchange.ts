import type { TensorExchange } from "./types.js";

/** Send the global model, read back the trained model: every aggregator but SCAFFOLD. */
export const plainExchange: TensorExchange = {
  outgoing: (global) => global,
  expected: (global) => global,
  read: ({ nodeId, samples, tensors, loss }) => ({
    nodeId,
    samples,
    params: tensors,
    ...(loss === undefined ? {} : { loss }),
  }),
  foldable: true,
};
