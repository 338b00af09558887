import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { errorMessage, InputError } from "../../common/errors.js";
import { describeIssues, issuePath, ValidationError } from "../../common/validation.js";
import { dpPlanProblem } from "../../ml/dp-plan-check.js";
import { hasFrozenLayers } from "../../ml/frozen.js";
import {
  classificationMetrics,
  metricsOf,
  regressionMetrics,
  segmentationMetrics,
  taskKind,
} from "../../ml/metrics.js";
import { type Plan, planSchema } from "../../ml/plan.js";
import type { DpArgs, NamedTensor, TrainingArgs } from "../../ml/types.js";
import { leastSecaggClip } from "../../privacy/dp/central.js";
import { MIN_SECURE_COHORT } from "../../privacy/secagg/cohort.js";
import { minNeighbours } from "../../privacy/secagg/graph.js";
import {
  type AggregatorConfig,
  aggregatorSchema,
  describe,
  minimumUpdates,
  namesSupporting,
} from "../aggregators/registry.js";
import { durationSchema } from "./duration.js";
import { type SecaggConfig, secaggAggregatorProblem, secaggSchema } from "./secagg-config.js";

/** experiment.yaml (README.md, section experiment.yaml): read, validated strictly, defaults filled, keys in camelCase. */

export { classificationMetrics, regressionMetrics };
export type MetricName =
  | (typeof classificationMetrics)[number]
  | (typeof regressionMetrics)[number]
  | (typeof segmentationMetrics)[number];

export interface Experiment {
  /** Names the run folder `<out>/<name>/`. */
  name: string;
  /** Datasets must carry all of these. */
  tags: string[];
  rounds: number;
  nodes: {
    min: number;
    waitMs: number;
    /** Fraction of the connected nodes asked to train each round. */
    sample: number;
    roundTimeoutMs: number;
    /** A failed round (a node error or timeout) stops the run, or continues with the replies it has. */
    onFailure: "stop" | "continue";
  };
  plan: Plan;
  /** The ml `TrainingArgs` less fedproxMu, which the aggregator supplies; empty metrics: the loss's defaults. */
  training: Omit<TrainingArgs, "fedproxMu" | "metrics"> & { metrics: MetricName[] };
  aggregator: AggregatorConfig;
  /** Differential privacy (README, Differential privacy); absent: none. */
  dp?: DpArgs;
  /** Secure aggregation (absent: plain updates). */
  secagg?: SecaggConfig;
  /** `plan.init`'s model as loadExperiment read it: its path as written and its weights (plan-init.ts). */
  initialWeights?: { path: string; params: NamedTensor[] };
}

/** Whole numbers; `max` keeps each inside its wire type (uint32) and sane (README.md, experiment.yaml). */
const count = (min: number, max: number) => z.number().int().min(min).max(max);
const UINT32_MAX = 2 ** 32 - 1;
/** Largest experiment file read, and most YAML aliases expanded (an alias bomb is a few lines). */
export const MAX_EXPERIMENT_BYTES = 1024 * 1024;
export const MAX_YAML_ALIASES = 100;

const nodesSchema = z
  .strictObject({
    min: count(1, 10_000).default(1),
    wait: durationSchema.default(60_000),
    sample: z.number().gt(0).max(1).default(1),
    round_timeout: durationSchema.pipe(z.number().gt(0, "must be longer than 0")).default(600_000),
    on_failure: z.enum(["stop", "continue"]).default("stop"),
  })
  .transform((n) => ({
    min: n.min,
    waitMs: n.wait,
    sample: n.sample,
    roundTimeoutMs: n.round_timeout,
    onFailure: n.on_failure,
  }));

const trainingSchema = z
  .strictObject({
    epochs: count(1, 100_000).optional(),
    updates: count(1, 100_000_000).optional(),
    batch_size: count(1, 1_048_576).default(32),
    test_ratio: z.number().min(0).lt(1).default(0.2),
    test_on: z.array(z.enum(["global", "local"])).default(["global", "local"]),
    metrics: z.array(z.enum([...classificationMetrics, ...regressionMetrics, ...segmentationMetrics])).default([]),
    seed: count(0, UINT32_MAX).default(0),
  })
  .superRefine((t, ctx) => {
    if (t.epochs !== undefined && t.updates !== undefined) {
      ctx.addIssue({ code: "custom", path: ["updates"], message: "give either epochs or updates, not both" });
    }
  })
  .transform((t) => ({
    epochs: t.epochs ?? 1,
    updates: t.updates ?? 0,
    batchSize: t.batch_size,
    testRatio: t.test_ratio,
    testOnGlobal: t.test_on.includes("global"),
    testOnLocal: t.test_on.includes("local"),
    metrics: t.metrics,
    seed: t.seed,
  }));

const noiseMultiplier = z.number().gt(0, "must be above 0 (no noise gives no privacy)");
const delta = z.number().gt(0).lt(1).default(1e-5);
const dpSchema = z
  .discriminatedUnion(
    "mode",
    [
      z.strictObject({
        mode: z.literal("local"),
        noise_multiplier: noiseMultiplier,
        max_grad_norm: z.number().gt(0),
        delta,
      }),
      z.strictObject({
        mode: z.literal("central"),
        noise_multiplier: noiseMultiplier,
        clip_norm: z.number().gt(0),
        delta,
      }),
    ],
    {
      error: (issue) =>
        issue.code === "invalid_union"
          ? `unknown DP mode ${JSON.stringify((issue.input as { mode?: unknown } | undefined)?.mode)} (local or central)`
          : undefined,
    },
  )
  .transform(
    (d): DpArgs => ({
      mode: d.mode,
      noiseMultiplier: d.noise_multiplier,
      clipNorm: d.mode === "local" ? d.max_grad_norm : d.clip_norm,
      delta: d.delta,
    }),
  );

/**
 * Aggregators central DP works with (their descriptors' `supports.centralDp`): they see one noisy mean
 * and only post-process it. The others need each node's own update (median, trimmed mean, Krum,
 * q-FedAvg) or send unclipped state (SCAFFOLD's controls).
 */
export const centralDpAggregators = namesSupporting("centralDp");

export const experimentSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'use only letters, digits, ".", "_" and "-" (it names the run folder)')
      // A file name holds 255 bytes; --overwrite stages the run in ".<name>.staged-<8 hex>" beside it.
      .max(200, "at most 200 characters (it names the run folder)")
      .refine((name) => name !== "." && name !== "..", "must name a folder, not . or .."),
    tags: z.array(z.string().min(1)).min(1),
    rounds: count(1, 100_000),
    nodes: nodesSchema.default({ min: 1, waitMs: 60_000, sample: 1, roundTimeoutMs: 600_000, onFailure: "stop" }),
    plan: planSchema,
    training: trainingSchema.default({
      epochs: 1,
      updates: 0,
      batchSize: 32,
      testRatio: 0.2,
      testOnGlobal: true,
      testOnLocal: true,
      metrics: [],
      seed: 0,
    }),
    aggregator: aggregatorSchema.default({ name: "fedavg" }),
    dp: dpSchema.optional(),
    secagg: secaggSchema.optional(),
  })
  .superRefine((e, ctx) => {
    for (const { path, message } of crossChecks(e as Experiment)) ctx.addIssue({ code: "custom", path, message });
  });

/** Checks across sections: the metrics fit the plan's loss, dp and secagg fit the aggregator, its node count fits nodes.min. */
function crossChecks(e: Experiment): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const allowed = metricsOf(taskKind(e.plan));
  e.training.metrics.forEach((metric, i) => {
    if (allowed.includes(metric)) return;
    const kind = (segmentationMetrics as readonly string[]).includes(metric)
      ? "segmentation"
      : (classificationMetrics as readonly string[]).includes(metric)
        ? "classification"
        : "regression";
    problems.push({
      path: ["training", "metrics", i],
      message: `"${metric}" is a ${kind} metric but plan.loss is ${e.plan.loss}`,
    });
  });
  const described = describe(e.aggregator.name);
  if (e.dp?.mode === "central" && !described.supports.centralDp) {
    problems.push({
      path: ["dp", "mode"],
      message:
        `central DP adds noise to one mean of clipped updates, which ${e.aggregator.name} cannot use ` +
        `(it needs each node's own update or extra state); use ${centralDpAggregators.join(", ")}, or dp mode local`,
    });
  }
  if (described.needsGlobalLoss && e.training.testRatio === 0) {
    problems.push({
      path: ["training", "test_ratio"],
      message: `${e.aggregator.name} weighs each node by its loss of the global model on its test split: test_ratio must be above 0`,
    });
  }
  const secaggProblem = e.secagg && secaggAggregatorProblem(e.aggregator.name);
  if (secaggProblem) problems.push({ path: ["aggregator", "name"], message: secaggProblem });
  if (e.secagg) {
    // The masked vector carries counts, not the per-node score histograms AUC is pooled from.
    e.training.metrics.forEach((metric, i) => {
      if (metric !== "auc") return;
      problems.push({
        path: ["training", "metrics", i],
        message:
          "auc cannot be pooled under secure aggregation (the masked sums carry confusion counts, not score histograms): use accuracy, precision, recall or f1",
      });
    });
  }
  const bounded = "clipNorm" in e.aggregator || "maxWeightFraction" in e.aggregator;
  if (bounded && (e.secagg || e.dp?.mode === "central")) {
    // Both see only one sum of the updates, never each node's: there is nothing per node to bound
    // (under secagg each node clips its own update, under central DP the clip_norm of dp applies).
    problems.push({
      path: ["aggregator"],
      message: `clip_norm and max_weight_fraction bound each node's update, which ${e.secagg ? "secagg" : "central DP"} hides from the researcher: remove them`,
    });
  }
  if (hasFrozenLayers(e.plan) && e.aggregator.name === "scaffold") {
    // Frozen layers' tensors are left out of the replies (frozen.ts); SCAFFOLD's control variates cover whole models.
    problems.push({
      path: ["plan", "model"],
      message:
        "frozen layers (trainable: false) do not combine with scaffold yet: train every layer, or use another aggregator",
    });
  }
  const stateful = e.dp && dpPlanProblem(e.plan);
  if (stateful) problems.push({ path: stateful.path, message: stateful.message });
  const margin = e.dp && e.secagg ? distributedClipProblem(e.dp, e.secagg) : undefined;
  if (margin) problems.push({ path: ["secagg", "clip"], message: margin });
  const needed = minimumUpdates(e.aggregator);
  if (needed > e.nodes.min) {
    problems.push({
      path: ["nodes", "min"],
      message: `${e.aggregator.name} with these options needs at least ${needed} nodes a round, got ${e.nodes.min}`,
    });
  }
  if (e.secagg && e.nodes.min < MIN_SECURE_COHORT) {
    problems.push({
      path: ["nodes", "min"],
      message: `secure aggregation needs at least ${MIN_SECURE_COHORT} nodes a round (with fewer, the sum tells each node's update), got ${e.nodes.min}`,
    });
  }
  // Checked again each round for the nodes that take part (secure-round.ts checkCohort): the bound grows with n.
  const k = e.secagg?.neighbours;
  if (e.secagg && k !== undefined && k < e.nodes.min - 1 && k < minNeighbours(e.nodes.min, e.secagg)) {
    problems.push({
      path: ["secagg", "neighbours"],
      message: `${k} is below the ${minNeighbours(e.nodes.min, e.secagg)} neighbours ${e.nodes.min} nodes need with dropout ${e.secagg.dropout} and collusion ${e.secagg.collusion} (Bell et al. 2020: the survivors must stay connected)`,
    });
  }
  return problems;
}

/** Parses the text of an experiment file; throws InputError naming the file and the bad key's path. */
export function parseExperiment(text: string, fileName: string): Experiment {
  if (text.length > MAX_EXPERIMENT_BYTES) {
    throw new InputError(
      `Cannot read experiment "${fileName}": it is larger than ${MAX_EXPERIMENT_BYTES / 1024} KiB; fix: an experiment is a short file, check you gave the right one`,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0].message.split("\n")[0].replace(/:$/, "");
    throw new InputError(`Cannot read experiment "${fileName}": ${first}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    throw new InputError(
      `Cannot read experiment "${fileName}": ${errorMessage(error).split("\n")[0]}; fix: write the values out instead of using many YAML aliases`,
    );
  }
  if (value === null || value === undefined)
    throw new InputError(`Cannot read experiment "${fileName}": the file is empty`);
  const result = experimentSchema.safeParse(value);
  if (result.success) return result.data as Experiment;
  throw new ValidationError(
    `Invalid experiment "${fileName}"`,
    describeIssues(experimentSchema, value, result.error.issues),
  );
}

/** The JSON Schema of experiment.yaml (`fbm-researcher schema`), made from the schema that validates it. */
export function experimentJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(experimentSchema, { io: "input", unrepresentable: "any" });
  return {
    ...schema,
    title: "fbm experiment.yaml",
    description: "A federated experiment run by fbm-researcher (README.md, section experiment.yaml)",
  };
}

/**
 * The experiment's training settings with `changes` applied, keys as in experiment.yaml (`batch_size`);
 * `epochs` replaces `updates` and back. Throws a ValidationError naming `training.<key>`.
 */
export function changedTraining(experiment: Experiment, changes: Record<string, unknown>): Experiment["training"] {
  const t = experiment.training;
  const written: Record<string, unknown> = {
    ...(t.updates > 0 ? { updates: t.updates } : { epochs: t.epochs }),
    batch_size: t.batchSize,
    test_ratio: t.testRatio,
    test_on: [...(t.testOnGlobal ? ["global"] : []), ...(t.testOnLocal ? ["local"] : [])],
    metrics: t.metrics,
    seed: t.seed,
  };
  if ("epochs" in changes) delete written.updates;
  if ("updates" in changes) delete written.epochs;
  return checkChange(experiment, "training", { ...written, ...changes }).training;
}

/** The experiment's aggregator replaced by `settings` as in experiment.yaml (`{name: fedadam, server_lr: 0.01}`). */
export function changedAggregator(experiment: Experiment, settings: Record<string, unknown>): AggregatorConfig {
  return checkChange(experiment, "aggregator", settings).aggregator;
}

/** The experiment with one section replaced by `value` (YAML shape), validated alone and with the rest. */
function checkChange(experiment: Experiment, section: "training" | "aggregator", value: unknown): Experiment {
  const schema: z.ZodType = section === "training" ? trainingSchema : aggregatorSchema;
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ValidationError(
      `Invalid ${section} settings`,
      describeIssues(schema, value, result.error.issues, section),
    );
  const next = { ...experiment, [section]: result.data } as Experiment;
  const problems = crossChecks(next).map((p) => ({ path: issuePath(p.path), message: p.message }));
  if (problems.length > 0) throw new ValidationError(`Invalid ${section} settings`, problems);
  return next;
}

/** Reads and parses an experiment file. */
export async function loadExperiment(path: string): Promise<Experiment> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : errorMessage(error);
    throw new InputError(`Cannot read experiment "${path}": ${why}`, { cause: error });
  }
  const config = parseExperiment(text, path);
  if (!config.plan.init) return config;
  // Reading a model takes TensorFlow.js: loaded only for plans that start from one.
  const { resolvePlanInit } = await import("./plan-init.js");
  return resolvePlanInit(config, path);
}

/** Distributed DP (central DP under secure aggregation): secagg.clip must not cut the nodes' noise. */
function distributedClipProblem(dp: DpArgs, secagg: SecaggConfig): string | undefined {
  if (dp.mode !== "central") return undefined;
  const least = leastSecaggClip(dp);
  if (secagg.clip >= least) return undefined;
  return `${secagg.clip} is too small for dp's noise: with clip_norm ${dp.clipNorm} and noise_multiplier ${dp.noiseMultiplier} it must be at least ${Number(least.toPrecision(6))} (clip_norm × (1 + 4 × noise_multiplier)) so the nodes' noise is not clamped`;
}
