import { sha256Hex } from "../../common/canonical-json.js";
import { FbmError } from "../../common/errors.js";
import { columnStats } from "../../ml/normalize.js";
import { type Plan, parsePlan, planId } from "../../ml/plan.js";
import { trainLocal } from "../../ml/train.js";
import type { ReplyBody, TrainTaskBody } from "../../wire/index.js";
import { discloseMetrics } from "../analytics/disclosure.js";
import type { TaskContext } from "../poll-loop.js";
import type { NodeRuntime } from "./runtime.js";
import { scaffoldExtension } from "./scaffold.js";
import { secaggExtension } from "./secagg.js";
import { plainExtension } from "./train-extension.js";

/** Checks the plan the researcher sent: its id is its hash, and it passes the node's own validation. */
export function checkPlan(planId: string, planJson: string): Plan {
  if (sha256Hex(planJson) !== planId) {
    throw new FbmError(`Plan id ${planId.slice(0, 12)} does not match the plan's content`, 2);
  }
  let value: unknown;
  try {
    value = JSON.parse(planJson);
  } catch {
    throw new FbmError("The plan is not valid JSON", 2);
  }
  return parsePlan(value);
}

function datasetOf(runtime: NodeRuntime, id: string) {
  const entry = runtime.catalogue.getDataset(id);
  if (!entry) throw new FbmError(`No dataset ${id} on this node (was it removed?)`, 1);
  return entry;
}

/** Local training (or, with no epochs and no updates, validation only) on one catalogued dataset. */
export async function executeTrain(
  runtime: NodeRuntime,
  task: TrainTaskBody,
  context: TaskContext,
  experiment?: string,
): Promise<ReplyBody> {
  const plan = checkPlan(task.planId, task.planJson);
  const refusal = await runtime.authorizePlan(task.planId, plan, { experiment, datasetId: task.datasetId });
  if (refusal) return refusal;
  const training = task.args.epochs > 0 || task.args.updates > 0;
  if (runtime.requireSecagg && training && !task.secagg) {
    return {
      kind: "error",
      code: "secagg_required",
      message:
        "This node trains only under secure aggregation (config require_secagg is true): add `secagg: {}` to the experiment, or run `fbm-node config set require_secagg false` on the node",
    };
  }
  const entry = datasetOf(runtime, task.datasetId);
  const data = await runtime.loader.load(entry, plan);
  if (task.secagg) runtime.log(`Round ${task.round}: training under secure aggregation`);
  const extension = task.secagg
    ? secaggExtension({
        model: task.params,
        masking: task.secagg,
        participant: runtime.secagg.get(task.secagg.session),
        transform: runtime.secaggTransform,
        onClipped: runtime.onSecaggUpdate && ((u) => runtime.onSecaggUpdate?.(task.secagg?.session ?? "", u)),
      })
    : (scaffoldExtension({
        params: task.params,
        store: runtime.controls,
        key: `${experiment ?? ""}/${task.planId}`,
        training,
        learningRate: plan.optimizer.learning_rate,
      }) ?? plainExtension(task.params));
  let lastSent = 0;
  const result = await trainLocal({
    plan,
    data,
    params: extension.model,
    args: task.args,
    normalization: task.normalization,
    round: task.round,
    signal: context.signal,
    threads: runtime.threads,
    gradientCorrection: extension.gradientCorrection,
    onProgress: (p) => {
      const now = Date.now();
      if (now - lastSent < 1000 && p.step < p.totalSteps) return;
      lastSent = now;
      context.feedback({ kind: "progress", ...p });
    },
  });
  if (!training && !task.args.testOnGlobal && !task.args.testOnLocal) {
    runtime.log(
      `Plan ${task.planId.slice(0, 12)} is ready to train on "${entry.name}" (${result.sampleCount} training samples)`,
    );
  } else if (!training) {
    runtime.log(`Validated the global model on "${entry.name}": ${formatMetrics(result.globalMetrics?.values)}`);
  } else {
    runtime.log(
      `Round ${task.round}: trained on "${entry.name}" (${result.sampleCount} samples) in ${result.seconds.toFixed(1)} s (${result.engine}), loss ${result.trainLoss.toFixed(4)}`,
    );
  }
  result.globalMetrics = discloseMetrics(result.globalMetrics, runtime.analytics.minCount);
  result.localMetrics = discloseMetrics(result.localMetrics, runtime.analytics.minCount);
  return { kind: "train", result: extension.reply(result) };
}

/** Per-column count/sum/sum of squares/min/max of the features the plan uses, for global scaling. */
export async function executeStats(
  runtime: NodeRuntime,
  datasetId: string,
  planJson: string,
  experiment?: string,
): Promise<ReplyBody> {
  const plan = parsePlan(JSON.parse(planJson));
  // A stats task carries no plan id: the plan's own (canonical) id is the one the operator approves.
  const refusal = await runtime.authorizePlan(planId(plan), plan, { experiment, datasetId });
  if (refusal) return refusal;
  const entry = datasetOf(runtime, datasetId);
  const data = await runtime.loader.load(entry, plan);
  return { kind: "stats", columns: columnStats(data) };
}

function formatMetrics(values: Record<string, number> | undefined): string {
  return values
    ? Object.entries(values)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(", ")
    : "no test rows";
}
