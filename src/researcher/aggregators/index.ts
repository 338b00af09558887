import { boundedAggregator } from "./bounded.js";
import { createFedMedian, createTrimmedMean } from "./coordinate-wise.js";
import { createFedAvg, createFedProx } from "./fedavg.js";
import { createFedAvgM } from "./fedavgm.js";
import { createFedOpt } from "./fedopt.js";
import { createKrum, createMultiKrum } from "./krum.js";
import type { AggregatorConfig, BoundsConfig } from "./options.js";
import { createScaffold } from "./scaffold.js";
import type { Aggregator } from "./types.js";

export {
  type AggregatorConfig,
  type AggregatorName,
  aggregatorDefaults,
  aggregatorNames,
  aggregatorSchema,
  minimumUpdates,
  parseAggregatorConfig,
} from "./options.js";
export type { AggregateInput, AggregateOutput, Aggregator, AggregatorState, NodeArgs, Update } from "./types.js";
export {
  createFedAvg,
  createFedAvgM,
  createFedMedian,
  createFedOpt,
  createFedProx,
  createKrum,
  createMultiKrum,
  createScaffold,
  createTrimmedMean,
};

/** The aggregator a validated config names (see `parseAggregatorConfig` for YAML-shaped input). */
export function createAggregator(config: AggregatorConfig): Aggregator {
  const inner = unbounded(config);
  const bounds = "clipNorm" in config || "maxWeightFraction" in config ? (config as BoundsConfig) : undefined;
  return bounds ? boundedAggregator(inner, bounds) : inner;
}

function unbounded(config: AggregatorConfig): Aggregator {
  switch (config.name) {
    case "fedavg":
      return createFedAvg();
    case "fedavgm":
      return createFedAvgM(config);
    case "fedprox":
      return createFedProx(config);
    case "scaffold":
      return createScaffold(config);
    case "fedadam":
    case "fedyogi":
    case "fedadagrad":
      return createFedOpt(config.name, config);
    case "fedmedian":
      return createFedMedian();
    case "trimmed_mean":
      return createTrimmedMean(config);
    case "krum":
      return createKrum(config);
    case "multikrum":
      return createMultiKrum(config);
  }
}
