import type { z } from "zod";
import type { AlgorithmExtension } from "../../wire/index.js";
import type { Aggregator } from "./types.js";

/**
 * What the nodes run beside plain local training (SCAFFOLD's control variates, FedProx's proximal
 * term) is told to them by name in every train task (`algorithm_extension`).
 */
export type { AlgorithmExtension };

/**
 * Everything the researcher knows about one aggregator, in its own file under kinds/: adding an
 * aggregator is that file plus one line in registry.ts. The config union, its validation messages and
 * the refusals (central DP, secure aggregation, too few nodes) are all derived from these.
 */
export interface AggregatorDescriptor<S extends z.ZodType<{ name: string }> = z.ZodType<{ name: string }>> {
  /** The `aggregator: {name: …}` of experiment.yaml. */
  name: z.output<S>["name"];
  /** The `aggregator:` section for this name, snake_case keys in, camelCase config with defaults out. */
  schema: S;
  /** The defaults the schema fills in (camelCase), for the README and the tests. */
  defaults: Readonly<Record<string, number>>;
  /** The fewest updates a round needs with these options; absent: 1. */
  minimumUpdates?: (config: z.output<S>) => number;
  /** Capabilities; each false one is a refusal with a clear message at validation time. */
  supports: {
    /** It only post-processes one (noisy) weighted mean of the updates (McMahan et al. 2018). */
    centralDp: boolean;
    /** It needs only the sum of the updates, which is all secure aggregation reveals. */
    secureAggregation: boolean;
    /** It takes `clip_norm` / `max_weight_fraction` (bounded.ts). */
    bounds: boolean;
  };
  /** What kind of aggregation it is, for the refusals ("robust aggregation"). */
  family?: string;
  /** What the nodes add to local training, told by name in each task; absent: nothing. */
  extension?: AlgorithmExtension;
  /**
   * It reads each node's loss of the global model before training (`Update.loss`): the train tasks
   * then ask for the "loss" metric on the global model.
   */
  needsGlobalLoss?: boolean;
  /** Its aggregator (`foldable` and `exchange` on the instance say how replies are collected). */
  create(config: z.output<S>): Aggregator;
}

/** Keeps the schema's own type, so the registry can derive the config union from it. */
export function defineAggregator<S extends z.ZodType<{ name: string }>>(
  d: AggregatorDescriptor<S>,
): AggregatorDescriptor<S> {
  return d;
}
