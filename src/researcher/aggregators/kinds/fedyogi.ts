import { defineAggregator } from "../descriptor.js";
import { createFedOpt } from "../fedopt.js";
import { averaging, fedOptDefaults, fedOptSchema } from "../schema-parts.js";

export const fedyogi = defineAggregator({
  name: "fedyogi",
  schema: fedOptSchema("fedyogi"),
  defaults: fedOptDefaults,
  supports: averaging,
  create: (config) => createFedOpt("fedyogi", config),
});
