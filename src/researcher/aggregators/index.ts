export { createFedMedian, createTrimmedMean } from "./coordinate-wise.js";
export type { AggregatorDescriptor, AlgorithmExtension } from "./descriptor.js";
export { createFedAvg, createFedProx } from "./fedavg.js";
export { createFedAvgM } from "./fedavgm.js";
export { createFedOpt } from "./fedopt.js";
export { createBulyan } from "./kinds/bulyan.js";
export { createQFedAvg } from "./kinds/qfedavg.js";
export { createKrum, createMultiKrum } from "./krum.js";
export {
  type AggregatorConfig,
  type AggregatorName,
  aggregatorNames,
  aggregatorSchema,
  aggregators,
  type BoundsConfig,
  createAggregator,
  describe,
  minimumUpdates,
  namesSupporting,
  parseAggregatorConfig,
} from "./registry.js";
export { createScaffold } from "./scaffold.js";
export type { AggregateInput, AggregateOutput, Aggregator, AggregatorState, NodeArgs, Update } from "./types.js";
