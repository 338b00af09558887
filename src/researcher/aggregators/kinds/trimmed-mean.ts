import { z } from "zod";
import { createTrimmedMean } from "../coordinate-wise.js";
import { defineAggregator } from "../descriptor.js";
import { robust } from "../schema-parts.js";

const defaults = { beta: 0.1 } as const;

export const trimmedMean = defineAggregator({
  name: "trimmed_mean",
  schema: z.strictObject({
    name: z.literal("trimmed_mean"),
    beta: z.number().min(0).lt(0.5).default(defaults.beta),
  }),
  defaults,
  family: "robust aggregation",
  supports: robust,
  create: (config) => createTrimmedMean(config),
});
