import { trainedTensors } from "../../ml/frozen.js";
import { type MetricCounts, poolCounts, type ScoreRuns } from "../../ml/metric-counts.js";
import { taskKind } from "../../ml/metrics.js";
import { parsePlan } from "../../ml/plan.js";
import type { MetricValues, TrainResult } from "../../ml/types.js";
import { type ReplyBody, type ReplyErrorCode, replyErrorCodes, type TrainTaskBody } from "../../wire/index.js";
import { createRunningMean } from "../aggregators/running-mean.js";
import type { NodeFailure } from "../run/events.js";
import { pooledMetrics } from "../run/pooled-metrics.js";
import { runTrainRound } from "../run/train-round.js";
import type { Participant } from "../server/discover.js";
import type { Hub } from "../server/hub.js";

export interface RelayRoundInput {
  hub: Hub;
  task: TrainTaskBody;
  experiment: string;
  /** The nodes counted in the dataset upstream was told of, online now. */
  members: Participant[];
  timeoutMs: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/**
 * Runs one upstream train task on the relay's nodes and answers it with one update: the plan, its
 * arguments and the model go to each node unchanged (so each node's operator approves the same plan
 * hash), each reply is folded into a float64 Σ samples·x as its bytes arrive (the researcher's own
 * reply-fold.ts), and the weighted mean goes back with the total sample count, the sample-weighted
 * loss and the nodes' validation counts pooled. Upstream folds it with that weight: the same sum as if
 * every node had answered it directly, within float32 rounding of the mean.
 *
 * Failures: a refusal that concerns the plan (rejected, awaiting approval, too large, …) is answered
 * with that node's code, so the researcher's approval check waits or stops as it would for the node
 * itself; otherwise nodes that failed are left out (and said in the log) while one update remains,
 * and with none the first failure's code answers.
 */
export async function relayTrainRound(input: RelayRoundInput): Promise<ReplyBody> {
  const { task } = input;
  if (input.members.length === 0)
    return { kind: "error", code: "failed", message: "no node behind the relay is online to train" };
  const plan = parsePlan(JSON.parse(task.planJson));
  // Nodes send back the trained tensors only (frozen layers stay with the researcher: frozen.ts).
  const expected = trainedTensors(plan, task.params);
  const running = createRunningMean(expected.map((t) => t.data.length));
  const started = performance.now();
  const { updates, failures } = await runTrainRound({
    hub: input.hub,
    experiment: input.experiment,
    participants: input.members,
    round: task.round,
    planId: task.planId,
    planJson: task.planJson,
    args: task.args,
    normalization: task.normalization,
    preparation: task.preparation,
    global: task.params,
    expected,
    foldChunks: running,
    timeoutMs: input.timeoutMs,
    signal: input.signal,
    ...(task.algorithmExtension ? { algorithmExtension: task.algorithmExtension } : {}),
    ...(task.aggregation ? { aggregation: task.aggregation } : {}),
  });
  const refusal = failures.find((f) => planCodes.includes(f.code));
  if (refusal) return errorFrom(refusal, failures);
  if (updates.length === 0) return errorFrom(failures[0], failures);
  if (failures.length > 0)
    input.log?.(
      `Round ${task.round}: ${failures.length} node(s) left out of the relay's update: ${failures.map((f) => `${f.name}: ${f.message}`).join("; ")}`,
    );
  const mean = running.result();
  const results = updates.map((u) => u.result);
  const kind = taskKind(plan);
  const result: TrainResult = {
    params: expected.map((t, i) => ({ ...t, data: mean.params[i] })),
    sampleCount: mean.samples,
    ...lossOf(results),
    ...metricsOf("globalMetrics", results, kind),
    ...metricsOf("localMetrics", results, kind),
    seconds: (performance.now() - started) / 1000,
  };
  return { kind: "train", result };
}

/** Codes about the plan itself: the researcher's approval check acts on them (approval.ts). */
const planCodes: string[] = [
  "plan_rejected",
  "plan_too_large",
  "secagg_required",
  "dp_unsupported",
  "preparation_mismatch",
  "preparation_too_large",
  "task_too_large",
  "task_out_of_bounds",
  "plan_not_approved",
];

function errorFrom(first: NodeFailure, all: NodeFailure[]): ReplyBody {
  const code: ReplyErrorCode = (replyErrorCodes as readonly string[]).includes(first.code)
    ? (first.code as ReplyErrorCode)
    : "failed";
  const same = all.filter((f) => f.code === first.code);
  const message = `${same.length} of the relay's node(s) answered ${first.code}: ${same.map((f) => `${f.name}: ${f.message}`).join("; ")}`;
  return { kind: "error", code, message };
}

/** The sample-weighted mean of the losses the nodes sent (withheld ones are left out, as upstream does). */
function lossOf(results: TrainResult[]): { trainLoss?: number } {
  const losing = results.filter((r) => r.trainLoss !== undefined);
  const samples = losing.reduce((s, r) => s + r.sampleCount, 0);
  if (losing.length === 0 || samples === 0) return {};
  return { trainLoss: losing.reduce((s, r) => s + (r.trainLoss ?? 0) * r.sampleCount, 0) / samples };
}

/**
 * The nodes' validation metrics as one node's: summed sufficient statistics (so the researcher's own
 * pooling stays exact) and the figures they give; without counts (older nodes), the weighted mean.
 */
function metricsOf(
  key: "globalMetrics" | "localMetrics",
  results: TrainResult[],
  kind: ReturnType<typeof taskKind>,
): Partial<Record<typeof key, MetricValues>> {
  const items = results.map((r) => r[key]).filter((m): m is MetricValues => m !== undefined && m.samples > 0);
  if (items.length === 0) return {};
  const samples = items.reduce((s, m) => s + m.samples, 0);
  const pooled = pooledMetrics(items, kind).values ?? {};
  let counts: MetricValues["counts"];
  if (items.every((m) => m.counts)) {
    try {
      const pooled = poolCounts(items.map((m) => m.counts!));
      counts = pooled && asOneNode(pooled);
    } catch {
      counts = undefined; // nodes disagree on the number of classes: upstream gets the weighted figures
    }
  }
  return { [key]: { values: pooled, samples, ...(counts ? { counts } : {}) } };
}

/**
 * Pooled counts in the form one node sends: poolCounts keeps each node's score runs apart (`parts`),
 * which does not travel; the runs are joined into disjoint ascending runs instead (overlapping runs of
 * different nodes become one run: coarser bins, so the researcher's AUC bound widens), and `wins`, an
 * exact count of within-node pairs only, is dropped. Confusion counts, sums and voxels stay exact.
 */
function asOneNode(counts: MetricCounts): MetricCounts {
  const { parts, scores, ...rest } = counts;
  if (!scores) return rest;
  return { ...rest, scores: scores.map((s, k) => disjointRuns(s.positive, parts?.[k] ?? [s])) };
}

function disjointRuns(positive: number, parts: ScoreRuns[]): ScoreRuns {
  const runs = parts
    .flatMap((p) => p.lo.map((lo, i) => ({ lo, hi: p.hi[i], positives: p.positives[i], negatives: p.negatives[i] })))
    .sort((a, b) => a.lo - b.lo);
  const out: ScoreRuns = { positive, lo: [], hi: [], positives: [], negatives: [] };
  for (const run of runs) {
    const last = out.lo.length - 1;
    if (last >= 0 && run.lo < out.hi[last]) {
      out.hi[last] = Math.max(out.hi[last], run.hi);
      out.positives[last] += run.positives;
      out.negatives[last] += run.negatives;
    } else {
      out.lo.push(run.lo);
      out.hi.push(run.hi);
      out.positives.push(run.positives);
      out.negatives.push(run.negatives);
    }
  }
  return out;
}
