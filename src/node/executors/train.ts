import { sha256Hex } from "../../common/canonical-json.js";
import { FbmError } from "../../common/errors.js";
import { profileTable } from "../../ml/data/table.js";
import { columnStats } from "../../ml/normalize.js";
import { declaresPreparation, type Plan, parsePlan, planId } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import { featureKinds, type TablePreparation } from "../../ml/table-prep.js";
import { trainLocal } from "../../ml/train.js";
import type { ReplyBody, TrainTaskBody } from "../../wire/index.js";
import { discloseMetrics } from "../analytics/disclosure.js";
import type { TaskContext } from "../poll-loop.js";
import type { NodeRuntime } from "./runtime.js";
import { controlUpdate, correctionFor, splitControl } from "./scaffold.js";

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
  const entry = datasetOf(runtime, task.datasetId);
  const { model: global, control } = splitControl(task.params);
  const checkOnly =
    task.args.epochs === 0 && task.args.updates === 0 && !task.args.testOnGlobal && !task.args.testOnLocal;
  if (checkOnly && task.preparation === undefined && entry.type === "csv" && declaresPreparation(plan)) {
    // The approval check comes before the preparation is resolved: nothing to load yet.
    runtime.log(`Plan ${task.planId.slice(0, 12)} is approved for "${entry.name}"; its table preparation comes next`);
    return { kind: "train", result: { params: global, sampleCount: entry.sampleCount, trainLoss: 0, seconds: 0 } };
  }
  const data = await runtime.loader.load(entry, plan, task.preparation);
  const controlKey = `${experiment ?? ""}/${task.planId}`;
  const training = task.args.epochs > 0 || task.args.updates > 0;
  let lastSent = 0;
  const result = await trainLocal({
    plan,
    data,
    params: global,
    args: task.args,
    normalization: task.normalization,
    round: task.round,
    signal: context.signal,
    threads: runtime.threads,
    gradientCorrection: control && training ? correctionFor(control, runtime.controls.get(controlKey)) : undefined,
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
  if (control) {
    // SCAFFOLD: keep c_i⁺ here, send Δc_i beside the parameters (zero when only validating).
    const { next, delta } = controlUpdate({
      global,
      trained: result.params,
      control,
      local: runtime.controls.get(controlKey),
      steps: training ? (result.steps ?? 0) : 0,
      learningRate: plan.optimizer.learning_rate,
    });
    if (training) runtime.controls.set(controlKey, next);
    result.params = [
      ...result.params,
      ...(training ? delta : delta.map((d) => ({ ...d, data: new Float32Array(d.data.length) }))),
    ];
  }
  result.globalMetrics = discloseMetrics(result.globalMetrics, runtime.analytics.minCount);
  result.localMetrics = discloseMetrics(result.localMetrics, runtime.analytics.minCount);
  return { kind: "train", result };
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
