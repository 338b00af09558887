import { InputError, RuntimeFailure } from "../../common/errors.js";
import { allInOrder } from "../../common/in-order.js";
import { declaresPreparation } from "../../ml/plan.js";
import { type FeatureKind, featureKinds, preparedFeatures, resolvePreparation } from "../../ml/table-prep.js";
import type { ColumnStats } from "../../ml/types.js";
import type { TaskBody } from "../../wire/index.js";
import { statsProblem } from "../server/reply-check.js";
import { gatherStats } from "../stats/run-stats.js";
import { DEFAULT_BINS } from "../stats/stats-options.js";
import type { Participant } from "./roster.js";
import type { RunContext, RunInputs } from "./run-context.js";

/**
 * Resolves a csv plan's declared table preparation before round 1: checks the declaration against
 * every node's column types (exit 2 naming the column), asks each node for a profile of the raw
 * feature columns (a stats task without preparation; categories rarer than the node's min_count are
 * never named), and pools them (src/ml/table-prep.ts). Returns `input` itself when there is nothing to resolve.
 */
export async function gatherPreparation(
  run: RunContext,
  nodes: Participant[],
  input: Omit<RunInputs, "normalization">,
): Promise<Omit<RunInputs, "normalization">> {
  const { config } = run;
  if (!declaresPreparation(config.plan) || input.features === undefined) return input;
  const features = input.features;
  const kinds = nodes.map((p) =>
    featureKinds(config.plan, features, p.dataset.columns, `dataset "${p.dataset.name}" on node ${p.name}`),
  );
  kinds.slice(1).forEach((other, i) => {
    const differs = other.find((k, c) => k.categorical !== kinds[0][c].categorical);
    if (differs) {
      const what = (categorical: boolean) => (categorical ? "text" : "numbers");
      throw new InputError(
        `Column "${differs.name}" holds ${what(differs.categorical)} on node ${nodes[i + 1].name} but ` +
          `${what(!differs.categorical)} on node ${nodes[0].name}: every node needs the same column types`,
      );
    }
  });
  const perNode: { name: string; columns: ColumnStats[] }[] = await allInOrder(
    nodes.map(async (p) => {
      const task = { kind: "stats" as const, datasetId: p.dataset.id, planJson: run.plan.json };
      const reply = await run.hub.send(p.node, task, {
        timeoutMs: config.nodes.roundTimeoutMs,
        experiment: config.name,
      });
      if (reply.kind === "error") {
        const message = `Node ${p.name} could not profile its table: ${reply.message}`;
        throw reply.code === "invalid_input" ? new InputError(message) : new RuntimeFailure(message);
      }
      if (reply.kind !== "stats")
        throw new RuntimeFailure(`Node ${p.name} answered a stats task with a ${reply.kind} reply`);
      const problem = statsProblem(reply.columns, p.dataset.sampleCount);
      if (problem) throw new RuntimeFailure(`Node ${p.name} sent impossible statistics: ${problem}`);
      return { name: p.name, columns: reply.columns };
    }),
  );
  const medians = config.plan.data.impute?.numeric === "median" ? await pooledMedians(run, nodes, kinds[0]) : {};
  const preparation = resolvePreparation(config.plan, kinds[0], perNode, medians);
  run.emit({
    event: "preparation",
    columns: preparation.columns.map((c) =>
      c.kind === "numeric"
        ? { name: c.name, kind: c.kind, ...(c.fill !== undefined ? { fill: c.fill } : {}) }
        : { name: c.name, kind: c.kind, categories: c.categories, ...(c.fill !== undefined ? { fill: c.fill } : {}) },
    ),
  });
  const names = preparedFeatures(preparation);
  return { sampleShape: [names.length], features: names, preparation };
}

/**
 * Pooled medians of the numeric features, by the federated statistics of `fbm-researcher stats`
 * (summaries, agreed histogram edges, fine runs of at least min_count values: README "Federated
 * statistics"), asked of the run's nodes; each is the middle of its bracket, within the reported error.
 */
async function pooledMedians(
  run: RunContext,
  nodes: Participant[],
  features: FeatureKind[],
): Promise<Record<string, number>> {
  const columns = features.filter((f) => !f.categorical).map((f) => f.name);
  if (columns.length === 0) return {};
  const send = (p: Participant, body: TaskBody) =>
    run.hub.send(p.node, body, {
      timeoutMs: run.config.nodes.roundTimeoutMs,
      signal: run.signal,
      experiment: run.config.name,
    });
  const result = await gatherStats(nodes, columns, send, {
    bins: DEFAULT_BINS,
    quantiles: [0.5],
    signal: run.signal,
    log: run.log,
  });
  const medians: Record<string, number> = {};
  for (const c of columns) {
    const median = result.pooled[c]?.quantiles?.["0.5"];
    if (median !== undefined) medians[c] = median;
  }
  return medians;
}
