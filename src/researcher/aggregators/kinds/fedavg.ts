import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createFedAvg } from "../fedavg.js";
import { averaging, bounds, withBounds } from "../schema-parts.js";

export const fedavg = defineAggregator({
  name: "fedavg",
  schema: z.strictObject({ name: z.literal("fedavg"), ...bounds }).transform(withBounds),
  defaults: {},
  supports: averaging,
  create: () => createFedAvg(),
});
