import { z } from "zod";
import { createFedMedian } from "../coordinate-wise.js";
import { defineAggregator } from "../descriptor.js";
import { robust } from "../schema-parts.js";

export const fedmedian = defineAggregator({
  name: "fedmedian",
  schema: z.strictObject({ name: z.literal("fedmedian") }),
  defaults: {},
  family: "robust aggregation",
  supports: robust,
  create: () => createFedMedian(),
});
