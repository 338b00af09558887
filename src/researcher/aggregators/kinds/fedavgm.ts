import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createFedAvgM } from "../fedavgm.js";
import { averaging, beta, bounds, serverLr, withBounds, withServerLr } from "../schema-parts.js";

/** Defaults after Hsu et al. 2019. */
const defaults = { serverLr: 1, momentum: 0.9 } as const;

export const fedavgm = defineAggregator({
  name: "fedavgm",
  schema: z
    .strictObject({
      name: z.literal("fedavgm"),
      server_lr: serverLr.default(defaults.serverLr),
      momentum: beta.default(defaults.momentum),
      ...bounds,
    })
    .transform((v) => withBounds(withServerLr(v))),
  defaults,
  supports: averaging,
  create: (config) => createFedAvgM(config),
});
