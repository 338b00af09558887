import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createScaffold } from "../scaffold.js";
import { serverLr, withServerLr } from "../schema-parts.js";

const defaults = { serverLr: 1 } as const;

export const scaffold = defineAggregator({
  name: "scaffold",
  schema: z
    .strictObject({ name: z.literal("scaffold"), server_lr: serverLr.default(defaults.serverLr) })
    .transform(withServerLr),
  defaults,
  // The control variates travel in the masked sum too; central DP would need their noise as well.
  supports: { centralDp: false, secureAggregation: true, bounds: false },
  extension: "scaffold",
  create: (config) => createScaffold(config),
});
