import { z } from "zod";
import { parseOrThrow } from "../../common/validation.js";

/**
 * Aggregator settings as written in experiment.yaml (`aggregator: {name: fedadam, server_lr: 0.01}`),
 * validated strictly per name and turned into a camelCase `AggregatorConfig` with every default filled.
 */

export const aggregatorNames = [
  "fedavg",
  "fedavgm",
  "fedprox",
  "scaffold",
  "fedadam",
  "fedyogi",
  "fedadagrad",
  "fedmedian",
  "trimmed_mean",
  "krum",
  "multikrum",
] as const;
export type AggregatorName = (typeof aggregatorNames)[number];

/** Defaults: FedAvgM after Hsu et al. 2019, FedOpt after Reddi et al. 2021 (β1 = 0 for Adagrad, as Flower). */
export const aggregatorDefaults = {
  fedavgm: { serverLr: 1, momentum: 0.9 },
  fedprox: { mu: 0.01 },
  scaffold: { serverLr: 1 },
  fedadam: { serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedyogi: { serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedadagrad: { serverLr: 0.01, beta1: 0, tau: 1e-3 },
  trimmed_mean: { beta: 0.1 },
} as const;

/** FedAvg-family bounds on each node's update (`clip_norm`, `max_weight_fraction`; see bounded.ts). */
export interface BoundsConfig {
  clipNorm?: number;
  maxWeightFraction?: number;
}

export type AggregatorConfig =
  | ({ name: "fedavg" } & BoundsConfig)
  | ({ name: "fedavgm"; serverLr: number; momentum: number } & BoundsConfig)
  | ({ name: "fedprox"; mu: number } & BoundsConfig)
  | { name: "scaffold"; serverLr: number }
  | ({ name: "fedadam" | "fedyogi"; serverLr: number; beta1: number; beta2: number; tau: number } & BoundsConfig)
  | ({ name: "fedadagrad"; serverLr: number; beta1: number; tau: number } & BoundsConfig)
  | { name: "fedmedian" }
  | { name: "trimmed_mean"; beta: number }
  | { name: "krum"; f: number }
  /** `m` absent: average the n − f best updates of the round. */
  | { name: "multikrum"; f: number; m?: number };

const serverLr = z.number().gt(0).max(100);
const beta = z.number().min(0).lt(1);
const tau = z.number().gt(0).max(1);
const count = z.number().int().min(0);
/** Accepted by the FedAvg-family aggregators, which average raw updates. */
const bounds = {
  clip_norm: z.number().gt(0).optional(),
  max_weight_fraction: z.number().gt(0).max(1).optional(),
};

/** snake_case bounds to camelCase, left out when absent. */
function withBounds<T extends { clip_norm?: number; max_weight_fraction?: number }>({
  clip_norm,
  max_weight_fraction,
  ...rest
}: T) {
  return {
    ...rest,
    ...(clip_norm === undefined ? {} : { clipNorm: clip_norm }),
    ...(max_weight_fraction === undefined ? {} : { maxWeightFraction: max_weight_fraction }),
  };
}

function fedOpt<N extends "fedadam" | "fedyogi">(name: N) {
  const d = aggregatorDefaults[name];
  return z
    .strictObject({
      name: z.literal(name),
      server_lr: serverLr.default(d.serverLr),
      beta1: beta.default(d.beta1),
      beta2: beta.default(d.beta2),
      tau: tau.default(d.tau),
      ...bounds,
    })
    .transform(({ server_lr, ...rest }) => withBounds({ ...rest, serverLr: server_lr }));
}

const withServerLr = <T extends { server_lr: number }>({ server_lr, ...rest }: T) => ({ ...rest, serverLr: server_lr });

const variants = [
  z.strictObject({ name: z.literal("fedavg"), ...bounds }).transform(withBounds),
  z
    .strictObject({
      name: z.literal("fedavgm"),
      server_lr: serverLr.default(aggregatorDefaults.fedavgm.serverLr),
      momentum: beta.default(aggregatorDefaults.fedavgm.momentum),
      ...bounds,
    })
    .transform((v) => withBounds(withServerLr(v))),
  z
    .strictObject({
      name: z.literal("fedprox"),
      mu: z.number().min(0).max(1000).default(aggregatorDefaults.fedprox.mu),
      ...bounds,
    })
    .transform(withBounds),
  z
    .strictObject({ name: z.literal("scaffold"), server_lr: serverLr.default(aggregatorDefaults.scaffold.serverLr) })
    .transform(withServerLr),
  fedOpt("fedadam"),
  fedOpt("fedyogi"),
  z
    .strictObject({
      name: z.literal("fedadagrad"),
      server_lr: serverLr.default(aggregatorDefaults.fedadagrad.serverLr),
      beta1: beta.default(aggregatorDefaults.fedadagrad.beta1),
      tau: tau.default(aggregatorDefaults.fedadagrad.tau),
      ...bounds,
    })
    .transform((v) => withBounds(withServerLr(v))),
  z.strictObject({ name: z.literal("fedmedian") }),
  z.strictObject({
    name: z.literal("trimmed_mean"),
    beta: z.number().min(0).lt(0.5).default(aggregatorDefaults.trimmed_mean.beta),
  }),
  z.strictObject({ name: z.literal("krum"), f: count }),
  z.strictObject({ name: z.literal("multikrum"), f: count, m: z.number().int().min(1).optional() }),
] as const;

const union = z.discriminatedUnion("name", variants, {
  error: (issue) => {
    if (issue.code !== "invalid_union") return undefined;
    const name = (issue.input as { name?: unknown } | undefined)?.name;
    const known = `one of ${aggregatorNames.join(", ")}`;
    return name === undefined
      ? `missing aggregator name (${known})`
      : `unknown aggregator ${JSON.stringify(name)} (${known})`;
  },
});
// Compile-time check that the schema's output fits AggregatorConfig.
const outputFits: AggregatorConfig = {} as z.output<typeof union>;
void outputFits;

/** The `aggregator:` section of experiment.yaml (YAML shape in, `AggregatorConfig` out). */
export const aggregatorSchema = union as unknown as z.ZodType<AggregatorConfig, unknown>;

/** Validates aggregator settings (YAML shape, snake_case) into an `AggregatorConfig`; throws InputError. */
export function parseAggregatorConfig(value: unknown, root = "aggregator"): AggregatorConfig {
  return parseOrThrow(aggregatorSchema, value, "Invalid aggregator", root);
}

/** The fewest updates a round needs with this aggregator (Krum: n > 2f + 2). */
export function minimumUpdates(config: AggregatorConfig): number {
  if (config.name === "krum") return 2 * config.f + 3;
  if (config.name === "multikrum") return Math.max(2 * config.f + 3, config.m ?? 1);
  return 1;
}
