import { defineAggregator } from "../descriptor.js";
import { createFedOpt } from "../fedopt.js";
import { averaging, fedOptDefaults, fedOptSchema } from "../schema-parts.js";

export const fedadam = defineAggregator({
  name: "fedadam",
  schema: fedOptSchema("fedadam"),
  defaults: fedOptDefaults,
  supports: averaging,
  create: (config) => createFedOpt("fedadam", config),
});
