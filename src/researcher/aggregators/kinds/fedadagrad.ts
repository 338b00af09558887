import { z } from "zod";
import { defineAggregator } from "../descriptor.js";
import { createFedOpt } from "../fedopt.js";
import { averaging, beta, bounds, serverLr, tau, withBounds, withServerLr } from "../schema-parts.js";

/** Reddi et al. 2021 with β1 = 0, as Flower. */
const defaults = { serverLr: 0.01, beta1: 0, tau: 1e-3 } as const;

export const fedadagrad = defineAggregator({
  name: "fedadagrad",
  schema: z
    .strictObject({
      name: z.literal("fedadagrad"),
      server_lr: serverLr.default(defaults.serverLr),
      beta1: beta.default(defaults.beta1),
      tau: tau.default(defaults.tau),
      ...bounds,
    })
    .transform((v) => withBounds(withServerLr(v))),
  defaults,
  supports: averaging,
  create: (config) => createFedOpt("fedadagrad", config),
});
