import { z } from "zod";
import { type AggregatorName, describe, namesSupporting } from "../aggregators/registry.js";

/**
 * `secagg:` in experiment.yaml (README "Secure aggregation"). `secagg: {}` takes every default:
 *   threshold: 0.6        fraction (> 0.5) of each neighbourhood, or a count, whose shares rebuild a secret
 *   clip: 1               each coordinate of a node's update (trained − global) is clipped to [−clip, clip]
 *   bits: auto            signed fixed-point bits per coordinate; auto: the most (≤ 24) the 32-bit sum allows
 *   neighbours: all       SecAgg+ (Bell et al. 2020): share keys with this many neighbours instead of all
 *   dropout: 0.1          SecAgg+: fraction of nodes that may drop out in a round \ together they set the
 *   collusion: 0.1        SecAgg+: fraction of nodes that may collude with us   / fewest neighbours allowed
 *   verify: true          active security: signed keys and the consistency check (Bonawitz et al. 2017, §4)
 */
export interface SecaggConfig {
  threshold: { fraction: number } | { count: number };
  clip: number;
  bits: "auto" | number;
  neighbours?: number;
  dropout: number;
  collusion: number;
  verify: boolean;
}

export const secaggSchema = z
  .strictObject({
    threshold: z
      .number()
      .gt(0.5, "must be a fraction above 0.5 or a count of at least 2")
      .refine((t) => t <= 1 || (Number.isInteger(t) && t >= 2), "must be a fraction in (0.5, 1] or a whole count")
      .default(0.6),
    clip: z.number().gt(0).finite().default(1),
    bits: z.union([z.literal("auto"), z.number().int().min(2).max(31)]).default("auto"),
    neighbours: z.number().int().min(2).optional(),
    dropout: z.number().min(0).lt(1).default(0.1),
    collusion: z.number().min(0).lt(1).default(0.1),
    verify: z.boolean().default(true),
  })
  .transform(
    (s): SecaggConfig => ({
      threshold: s.threshold <= 1 ? { fraction: s.threshold } : { count: s.threshold },
      clip: s.clip,
      bits: s.bits,
      ...(s.neighbours === undefined ? {} : { neighbours: s.neighbours }),
      dropout: s.dropout,
      collusion: s.collusion,
      verify: s.verify,
    }),
  );

/** Why `aggregator` cannot run under secure aggregation (its descriptor's `supports`), or undefined. */
export function secaggAggregatorProblem(aggregator: AggregatorName): string | undefined {
  const { supports, family } = describe(aggregator);
  if (supports.secureAggregation) return undefined;
  return `${aggregator} is ${family ?? "an aggregator"}, which needs every node's individual update; secure aggregation only reveals their sum (use ${namesSupporting("secureAggregation").join(", ")})`;
}

/** The threshold for a neighbourhood of `size` nodes (itself included). */
export function thresholdFor(config: SecaggConfig, size: number): number {
  return "count" in config.threshold ? config.threshold.count : Math.ceil(config.threshold.fraction * size);
}
