import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createKrum } from "../krum.js";
import { count, robust } from "../schema-parts.js";

export const krum = defineAggregator({
  name: "krum",
  schema: z.strictObject({ name: z.literal("krum"), f: count }),
  defaults: {},
  /** Blanchard et al. 2017: n > 2f + 2. */
  minimumUpdates: (config) => 2 * config.f + 3,
  family: "robust aggregation",
  supports: robust,
  create: (config) => createKrum(config),
});
