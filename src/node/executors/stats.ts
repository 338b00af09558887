import { FbmError } from "../../common/errors.js";
import { profileTable } from "../../ml/data/table.js";
import { columnStats } from "../../ml/normalize.js";
import { declaresPreparation, parsePlan, planId } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import { featureKinds, inputWidth, type TablePreparation } from "../../ml/table-prep.js";
import type { Dataset } from "../../ml/types.js";
import type { ReplyBody } from "../../wire/index.js";
import { discloseColumnStats, discloseOneHot } from "../analytics/disclosure.js";
import { ownCategories } from "../catalogue/own-categories.js";
import type { NodeRuntime } from "./runtime.js";
import { datasetOf } from "./train.js";

/**
 * Per-column count/sum/sum of squares/min/max of the inputs the plan uses, for global scaling. For a
 * plan that declares table preparation and a task that carries none resolved yet: the profile of the
 * raw feature columns instead (missing cells; categories held by min_count rows or more, by name).
 * Both pass the node's disclosure gate (discloseColumnStats) before they leave.
 */
export async function executeStats(
  runtime: NodeRuntime,
  task: { datasetId: string; planJson: string; preparation?: TablePreparation },
  experiment?: string,
  /** Checked between phases (the table is read in one pass): a cancelled task stops before its next one. */
  signal?: AbortSignal,
): Promise<ReplyBody> {
  const { datasetId } = task;
  const plan = parsePlan(JSON.parse(task.planJson));
  // A stats task carries no plan id: the plan's own (canonical) id is the one the operator approves.
  const refusal = await runtime.authorizePlan(planId(plan), plan, { experiment, datasetId });
  if (refusal) return refusal;
  const entry = datasetOf(runtime, datasetId);
  const policy = runtime.analytics;
  if (entry.type === "csv" && task.preparation === undefined && declaresPreparation(plan)) {
    const where = `dataset "${entry.name}"`;
    const features = featureKinds(plan, planInput(plan, entry).features ?? [], entry.columns, where);
    const profile = await profileTable(entry.path, { target: plan.data.target, features, minCount: policy.minCount });
    signal?.throwIfAborted();
    if (profile.sha256 !== entry.sha256) {
      throw new FbmError(
        `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
          `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
        2,
      );
    }
    return { kind: "stats", columns: discloseColumnStats(profile.columns, policy) };
  }
  const { data } = ownCategories(
    await runtime.loader.load(entry, plan, task.preparation),
    task.preparation,
    policy.minCount,
  );
  signal?.throwIfAborted();
  const columns = discloseColumnStats(columnStats(data, filledCells(data, task.preparation)), policy);
  return { kind: "stats", columns: discloseOneHot(columns, oneHotGroups(task.preparation), policy.minCount) };
}

/**
 * Per prepared input, the rows whose value is a fill: left out of the sums, so the researcher's choice of
 * fill (two tasks with fills 0 and 1000) cannot count a column's missing cells.
 */
function filledCells(data: Dataset, preparation: TablePreparation | undefined): (Set<number> | undefined)[] {
  const skip: (Set<number> | undefined)[] = [];
  for (const c of preparation?.columns ?? []) {
    const width = inputWidth(c);
    const rows = c.fill === undefined ? undefined : new Set(data.imputedRows?.[c.name] ?? []);
    for (let k = 0; k < width; k++) skip.push(rows);
  }
  return skip;
}

/** Per one-hot column of a preparation, the indexes of its inputs among the prepared features. */
function oneHotGroups(preparation: TablePreparation | undefined): number[][] {
  const groups: number[][] = [];
  let at = 0;
  for (const c of preparation?.columns ?? []) {
    const width = inputWidth(c);
    if (c.kind === "onehot") groups.push(Array.from({ length: width }, (_, k) => at + k));
    at += width;
  }
  return groups;
}
