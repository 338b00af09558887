import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createMultiKrum } from "../krum.js";
import { count, robust } from "../schema-parts.js";

export const multikrum = defineAggregator({
  name: "multikrum",
  /** `m` absent: average the n − f best updates of the round. */
  schema: z.strictObject({ name: z.literal("multikrum"), f: count, m: z.number().int().min(1).optional() }),
  defaults: {},
  minimumUpdates: (config) => Math.max(2 * config.f + 3, config.m ?? 1),
  family: "robust aggregation",
  supports: robust,
  create: (config) => createMultiKrum(config),
});
