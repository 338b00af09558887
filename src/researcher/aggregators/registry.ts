import { z } from "zod";
import { parseOrThrow } from "../../common/validation.js";
import { boundedAggregator } from "./bounded.js";
import type { AggregatorDescriptor } from "./descriptor.js";
import { bulyan } from "./kinds/bulyan.js";
import { fedadagrad } from "./kinds/fedadagrad.js";
import { fedadam } from "./kinds/fedadam.js";
import { fedavg } from "./kinds/fedavg.js";
import { fedavgm } from "./kinds/fedavgm.js";
import { fedmedian } from "./kinds/fedmedian.js";
import { fedprox } from "./kinds/fedprox.js";
import { fedyogi } from "./kinds/fedyogi.js";
import { krum } from "./kinds/krum.js";
import { multikrum } from "./kinds/multikrum.js";
import { qfedavg } from "./kinds/qfedavg.js";
import { scaffold } from "./kinds/scaffold.js";
import { trimmedMean } from "./kinds/trimmed-mean.js";
import type { BoundsConfig } from "./schema-parts.js";
import type { Aggregator } from "./types.js";

/**
 * Every aggregator experiment.yaml can name, in the order the messages list them. Adding one: a file
 * in kinds/ exporting its descriptor, and one line here.
 */
export const aggregators = [
  fedavg,
  fedavgm,
  fedprox,
  scaffold,
  fedadam,
  fedyogi,
  fedadagrad,
  fedmedian,
  trimmedMean,
  krum,
  multikrum,
  bulyan,
  qfedavg,
] as const;

type Registered = (typeof aggregators)[number];
/** A validated `aggregator:` section, camelCase, every default filled. */
export type AggregatorConfig = z.output<Registered["schema"]>;
export type AggregatorName = AggregatorConfig["name"];
export type { BoundsConfig };

export const aggregatorNames = aggregators.map((d) => d.name) as AggregatorName[];

/** The descriptor of `name` (a validated config's name is always registered). */
export function describe(name: AggregatorName): AggregatorDescriptor {
  return aggregators.find((d) => d.name === name) as unknown as AggregatorDescriptor;
}

const union = z.discriminatedUnion(
  "name",
  aggregators.map((d) => d.schema) as unknown as [Registered["schema"], ...Registered["schema"][]],
  {
    error: (issue) => {
      if (issue.code !== "invalid_union") return undefined;
      const name = (issue.input as { name?: unknown } | undefined)?.name;
      const known = `one of ${aggregatorNames.join(", ")}`;
      return name === undefined
        ? `missing aggregator name (${known})`
        : `unknown aggregator ${JSON.stringify(name)} (${known})`;
    },
  },
);

/** The `aggregator:` section of experiment.yaml (YAML shape in, `AggregatorConfig` out). */
export const aggregatorSchema = union as unknown as z.ZodType<AggregatorConfig, unknown>;

/** Validates aggregator settings (YAML shape, snake_case) into an `AggregatorConfig`; throws InputError. */
export function parseAggregatorConfig(value: unknown, root = "aggregator"): AggregatorConfig {
  return parseOrThrow(aggregatorSchema, value, "Invalid aggregator", root);
}

/** The fewest updates a round needs with this aggregator (Krum: n > 2f + 2; Bulyan: n ≥ 4f + 3). */
export function minimumUpdates(config: AggregatorConfig): number {
  return describe(config.name).minimumUpdates?.(config) ?? 1;
}

/** The names of the aggregators with a capability, for the refusals' "use …" hints. */
export function namesSupporting(capability: keyof AggregatorDescriptor["supports"]): AggregatorName[] {
  return aggregators.filter((d) => d.supports[capability]).map((d) => d.name as AggregatorName);
}

/**
 * The aggregator a validated config names, its updates bounded when the config says so, and the
 * descriptor's node-side needs (extension, global loss) added to what each train task carries.
 */
export function createAggregator(config: AggregatorConfig): Aggregator {
  const descriptor = describe(config.name);
  const inner = descriptor.create(config);
  const needs = {
    ...(descriptor.extension ? { extension: descriptor.extension } : {}),
    ...(descriptor.needsGlobalLoss ? { globalLoss: true } : {}),
  };
  const described: Aggregator = { ...inner, nodeArgs: (input) => ({ ...inner.nodeArgs(input), ...needs }) };
  const bounds = "clipNorm" in config || "maxWeightFraction" in config ? (config as BoundsConfig) : undefined;
  return bounds ? boundedAggregator(described, bounds) : described;
}
