import type { Plan } from "../../ml/plan.js";
import { countPlanParams, sampleShapeOf } from "../../ml/plan-size.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { configKeys, type NodeConfig, readableKeys } from "../config/node-config.js";
import { type PlanLayerRow, planDataText, planLayerRows } from "../plans/plan-format.js";
import type { PlanEntry } from "../plans/plan-registry.js";
import { type DatasetPrivacy, datasetPrivacy, type NodePrivacy } from "../privacy/dataset-privacy.js";
import type { NodeStatus } from "../serve/node-status.js";

/** One plan as the GUI lists it: the registry entry, its layers, and its size on a matching dataset. */
export interface GuiPlan {
  id: string;
  status: string;
  experiment: string;
  researcher: string;
  requestedAt: string;
  decidedAt: string;
  note: string;
  /** The plan's `data:` block as `fbm-node plan show` prints it (target, categorical, impute, normalize…). */
  data: string;
  layers: PlanLayerRow[];
  loss: string;
  optimizer: string;
  /**
   * Parameter count on the dataset the plan was first asked for (it carries the experiment's tags);
   * undefined when that dataset is unknown (an older request, a removed dataset) or the plan does not fit it.
   */
  params?: { count: number; dataset: string };
}

/** Everything the page shows, in one JSON answer (`GET /api/state`). */
export interface GuiState {
  node: { id: string; name: string };
  config: { key: string; value: unknown; meaning: string; live: boolean }[];
  /** Each dataset with its privacy budget, ε spent and left, as `fbm-node dataset show` reports them. */
  datasets: (DatasetEntry & { privacy: DatasetPrivacy })[];
  plans: GuiPlan[];
  /** What `serve` reported in status.json; undefined when the node never served. */
  status?: NodeStatus & { alive: boolean };
}

export function guiState(input: {
  config: NodeConfig;
  datasets: DatasetEntry[];
  privacy: NodePrivacy;
  plans: PlanEntry[];
  status?: NodeStatus;
  alive: (pid: number) => boolean;
}): GuiState {
  const { config, datasets } = input;
  return {
    node: { id: config.node_id, name: config.name },
    config: readableKeys.map((key) => ({ key, value: config[key] ?? "", ...configKeys[key] })),
    datasets: datasets.map((entry) => ({ ...entry, privacy: datasetPrivacy(entry, input.privacy) })),
    // Pending plans first (they wait for the operator), each group oldest request first.
    plans: [...input.plans]
      .sort((a, b) => Number(b.status === "pending") - Number(a.status === "pending"))
      .map((entry) => guiPlan(entry, datasets)),
    status: input.status && { ...input.status, alive: !input.status.stopped && input.alive(input.status.pid) },
  };
}

function guiPlan(entry: PlanEntry, datasets: DatasetEntry[]): GuiPlan {
  const plan = JSON.parse(entry.planJson) as Plan;
  let params: GuiPlan["params"];
  // Only the dataset it was asked for: a count on another dataset (other columns) would mislead.
  const dataset = datasets.find((d) => d.id === entry.requestedBy.dataset);
  const shape = dataset && sampleShapeOf(plan, dataset);
  if (dataset && shape) {
    try {
      params = { count: countPlanParams(plan, shape), dataset: dataset.name };
    } catch {
      // The plan does not fit this dataset's shape: no count.
    }
  }
  const { name, ...optimizer } = plan.optimizer;
  return {
    id: entry.id,
    status: entry.status,
    experiment: entry.requestedBy.experiment,
    researcher: entry.requestedBy.researcher,
    requestedAt: entry.requestedAt,
    decidedAt: entry.decidedAt,
    note: entry.note,
    data: planDataText(plan),
    layers: planLayerRows(plan),
    loss: plan.loss,
    optimizer: `${name} ${JSON.stringify(optimizer)}`,
    params,
  };
}
