import { sha256Hex } from "../../common/canonical-json.js";
import { FbmError } from "../../common/errors.js";
import { profileTable } from "../../ml/data/table.js";
import { columnStats } from "../../ml/normalize.js";
import { declaresPreparation, type Plan, parsePlan, planId } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import { featureKinds, type TablePreparation } from "../../ml/table-prep.js";
import { trainLocal } from "../../ml/train.js";
import type { PrivacySpent } from "../../ml/types.js";
import { clipUpdate } from "../../privacy/dp/central.js";
import type { ReplyBody, TrainTaskBody } from "../../wire/index.js";
import { discloseMetrics } from "../analytics/disclosure.js";
import { budgetOf, localRoundRdp } from "../dataset-privacy.js";
import type { TaskContext } from "../poll-loop.js";
import { PrivacyBudgetError } from "../privacy-ledger.js";
import { taskDeadline, trainLimitRefusal } from "../task-limits.js";
import { TaskRefusal } from "../task-refusal.js";
import { dpPlanRefusal, releaseUnderDp } from "./dp-release.js";
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
  // With the task's preparation: the gate sizes the model on the inputs it makes.
  const { preparation } = task;
  const refusal = await runtime.authorizePlan(task.planId, plan, {
    experiment,
    datasetId: task.datasetId,
    preparation,
  });
  if (refusal) return refusal;
  const dpRefusal = dpPlanRefusal(plan, task.args.dp);
  if (dpRefusal) return dpRefusal;
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
  const tooMuch = runtime.limits && trainLimitRefusal(task.args, entry.sampleCount, runtime.limits);
  if (tooMuch) {
    runtime.log(`Refused: ${tooMuch.message}`);
    return tooMuch;
  }
  const deadline = runtime.limits && taskDeadline(context.signal, runtime.limits.maxTaskSeconds);
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
  const checkOnly =
    task.args.epochs === 0 && task.args.updates === 0 && !task.args.testOnGlobal && !task.args.testOnLocal;
  if (checkOnly && task.preparation === undefined && entry.type === "csv" && declaresPreparation(plan)) {
    // The approval check comes before the preparation is resolved: nothing to load yet.
    runtime.log(`Plan ${task.planId.slice(0, 12)} is approved for "${entry.name}"; its table preparation comes next`);
    const result = { params: extension.model, sampleCount: entry.sampleCount, trainLoss: 0, seconds: 0 };
    return { kind: "train", result: extension.reply(releaseUnderDp(result, task.args.dp)) };
  }
  const data = await runtime.loader.load(entry, plan, task.preparation);
  let privacy: PrivacySpent | undefined;
  if (training) {
    const charged = await chargePrivacy(runtime, task, entry, data.rows, experiment ?? "");
    if (charged.kind === "error") return charged;
    privacy = charged.privacy;
  }
  let lastSent = 0;
  const result = await trainLocal({
    plan,
    data,
    params: extension.model,
    args: task.args,
    normalization: task.normalization,
    round: task.round,
    signal: deadline?.signal ?? context.signal,
    threads: runtime.threads,
    gradientCorrection: extension.gradientCorrection,
    onProgress: (p) => {
      const now = Date.now();
      if (now - lastSent < 1000 && p.step < p.totalSteps) return;
      lastSent = now;
      // Under dp the loss is raw (see releaseUnderDp): progress tells the steps only.
      const { loss, ...steps } = p;
      context.feedback({ kind: "progress", ...steps, ...(task.args.dp ? {} : { loss }) });
    },
  }).catch((error: unknown) => {
    if (!deadline?.timedOut()) throw error;
    throw new TaskRefusal(
      "task_timeout",
      `The task ran past this node's max_task_seconds (${runtime.limits?.maxTaskSeconds} s) and was stopped: ask for fewer steps, or the node's operator raises it with \`fbm-node config set max_task_seconds S\``,
    );
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
  if (training && task.args.dp?.mode === "central") {
    result.params = clipUpdate(extension.model, result.params, task.args.dp.clipNorm);
  }
  if (privacy) result.privacy = privacy;
  result.globalMetrics = discloseMetrics(result.globalMetrics, runtime.analytics.minCount);
  result.localMetrics = discloseMetrics(result.localMetrics, runtime.analytics.minCount);
  return { kind: "train", result: extension.reply(releaseUnderDp(result, task.args.dp)) };
}

/**
 * The node's privacy policy before a training round: a dataset with a budget trains only under local
 * DP-SGD (central DP's noise is added by the researcher, which the node cannot check), and a local DP
 * round is charged to the ledger, under its lock, before any training; a round that would pass the budget
 * is refused. Charging first means a round that then fails still counts (the conservative side).
 */
async function chargePrivacy(
  runtime: NodeRuntime,
  task: TrainTaskBody,
  entry: ReturnType<typeof datasetOf>,
  rows: number,
  experiment: string,
): Promise<{ kind: "ok"; privacy?: PrivacySpent } | (ReplyBody & { kind: "error" })> {
  const dp = task.args.dp;
  const { budget, budgetFrom } = budgetOf(entry, runtime.privacy.maxEpsilon);
  if (budget !== undefined && dp?.mode !== "local") {
    const setting =
      budgetFrom === "dataset"
        ? `fbm-node dataset set ${entry.id} max_epsilon none`
        : "fbm-node config set max_epsilon none";
    return {
      kind: "error",
      code: "privacy_budget",
      message:
        `Dataset "${entry.name}" (${entry.id}) has a privacy budget (ε ${budget}): this node trains on it only ` +
        `with local differential privacy (dp: {mode: local, …} in the experiment)${dp ? `, not ${dp.mode}` : ""}; ` +
        `the operator can lift the budget with \`${setting}\``,
    };
  }
  if (dp?.mode !== "local") return { kind: "ok" };
  try {
    const charged = await runtime.privacy.ledger.charge({
      sha256: entry.sha256,
      datasetId: entry.id,
      datasetName: entry.name,
      experiment,
      round: task.round,
      rdp: localRoundRdp(task.args, dp, rows),
      delta: dp.delta,
      budget,
      budgetDelta: runtime.privacy.delta,
    });
    runtime.log(
      `Round ${task.round}: charged "${entry.name}" for DP-SGD; the dataset has spent ε ${charged.datasetEpsilon.toFixed(3)} at δ ${runtime.privacy.delta}${budget !== undefined ? ` of ${budget}` : ""}`,
    );
    return { kind: "ok", privacy: { epsilon: charged.experimentEpsilon, delta: dp.delta } };
  } catch (error) {
    if (error instanceof PrivacyBudgetError) {
      runtime.log(`Refused: ${error.message}`);
      return { kind: "error", code: "privacy_budget", message: error.message };
    }
    throw error;
  }
}

/**
 * Per-column count/sum/sum of squares/min/max of the inputs the plan uses, for global scaling. For a
 * plan that declares table preparation and a task that carries none resolved yet: the profile of the
 * raw feature columns instead (missing cells; categories held by min_count rows or more, by name).
 */
export async function executeStats(
  runtime: NodeRuntime,
  task: { datasetId: string; planJson: string; preparation?: TablePreparation },
  experiment?: string,
): Promise<ReplyBody> {
  const { datasetId } = task;
  const plan = parsePlan(JSON.parse(task.planJson));
  // A stats task carries no plan id: the plan's own (canonical) id is the one the operator approves.
  const refusal = await runtime.authorizePlan(planId(plan), plan, { experiment, datasetId });
  if (refusal) return refusal;
  const entry = datasetOf(runtime, datasetId);
  if (entry.type === "csv" && task.preparation === undefined && declaresPreparation(plan)) {
    const where = `dataset "${entry.name}"`;
    const features = featureKinds(plan, planInput(plan, entry).features ?? [], entry.columns, where);
    const { minCount } = runtime.analytics;
    const profile = await profileTable(entry.path, { target: plan.data.target, features, minCount });
    if (profile.sha256 !== entry.sha256) {
      throw new FbmError(
        `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
          `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
        2,
      );
    }
    return { kind: "stats", columns: profile.columns };
  }
  const data = await runtime.loader.load(entry, plan, task.preparation);
  return { kind: "stats", columns: columnStats(data) };
}

function formatMetrics(values: Record<string, number> | undefined): string {
  return values
    ? Object.entries(values)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(", ")
    : "no test rows";
}
