import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createFedProx } from "../fedavg.js";
import { averaging, bounds, withBounds } from "../schema-parts.js";

const defaults = { mu: 0.01 } as const;

export const fedprox = defineAggregator({
  name: "fedprox",
  schema: z
    .strictObject({ name: z.literal("fedprox"), mu: z.number().min(0).max(1000).default(defaults.mu), ...bounds })
    .transform(withBounds),
  defaults,
  supports: averaging,
  extension: "fedprox",
  create: (config) => createFedProx(config),
});
