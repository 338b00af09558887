import { z } from "zod";

/** Option schemas several aggregators share (experiment.yaml spellings, snake_case). */

export const serverLr = z.number().gt(0).max(100);
export const beta = z.number().min(0).lt(1);
export const tau = z.number().gt(0).max(1);
export const count = z.number().int().min(0);

/** FedAvg-family bounds on each node's update (`clip_norm`, `max_weight_fraction`; see bounded.ts). */
export interface BoundsConfig {
  clipNorm?: number;
  maxWeightFraction?: number;
}

/** Accepted by the FedAvg-family aggregators, which average raw updates. */
export const bounds = {
  clip_norm: z.number().gt(0).optional(),
  max_weight_fraction: z.number().gt(0).max(1).optional(),
};

/** snake_case bounds to camelCase, left out when absent. */
export function withBounds<T extends { clip_norm?: number; max_weight_fraction?: number }>({
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

export const withServerLr = <T extends { server_lr: number }>({ server_lr, ...rest }: T) => ({
  ...rest,
  serverLr: server_lr,
});

/** FedAdam and FedYogi (Reddi et al. 2021): the same options. */
export function fedOptSchema<N extends "fedadam" | "fedyogi">(name: N) {
  const d = fedOptDefaults;
  return z
    .strictObject({
      name: z.literal(name),
      server_lr: serverLr.default(d.serverLr),
      beta1: beta.default(d.beta1),
      beta2: beta.default(d.beta2),
      tau: tau.default(d.tau),
      ...bounds,
    })
    .transform((v) => withBounds(withServerLr(v)));
}

/** FedOpt after Reddi et al. 2021. */
export const fedOptDefaults = { serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const;

/** The FedAvg family's capabilities: one weighted mean, so central DP, secure aggregation and bounds apply. */
export const averaging = { centralDp: true, secureAggregation: true, bounds: true } as const;
/** Robust statistics need every node's own update: no central DP, no secure aggregation, no bounds. */
export const robust = { centralDp: false, secureAggregation: false, bounds: false } as const;
