import { type Plan, planJson } from "../../ml/plan.js";
import { countPlanParams, sampleShapeOf } from "../../ml/plan-size.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { ReplyBody } from "../../wire/index.js";
import type { Catalogue, DatasetEntry } from "../catalogue/catalogue.js";
import type { PlanRegistry } from "./plan-registry.js";
import { preparedInputCount } from "./preparation-check.js";

/** What the gate knows about a request beyond the plan: which experiment asks, for which dataset. */
export interface PlanRequest {
  experiment?: string;
  datasetId?: string;
  /** The task's table preparation: the model is sized on the inputs it makes (one-hot widens a column). */
  preparation?: TablePreparation;
}

export interface PlanGateOptions {
  registry: PlanRegistry;
  /** Looks the dataset up to size the model on its inputs. */
  catalogue: Pick<Catalogue, "getDataset">;
  /** The node's policy: config keys `plan_approval` and `max_params`, and its name for messages. */
  policy: { name: string; planApproval: boolean; maxParams: number };
  /** The node home, for the command the operator must run. */
  homeDir: string;
  /** The researcher URL, recorded as the requester with the experiment name. */
  researcher: string;
  log: (line: string) => void;
  /** How often a plan still awaiting approval is mentioned again in the log (default one minute). */
  remindEveryMs?: number;
  now?: () => number;
}

/** Decides whether the node may run a plan: undefined to go ahead, else the error reply to send. */
export type PlanGate = (planId: string, plan: Plan, request?: PlanRequest) => Promise<ReplyBody | undefined>;

/**
 * The node's plan policy. A model larger than `max_params` is refused first; then, with approval on,
 * an unknown plan is recorded as pending and refused until the operator approves it with the command
 * the refusal names; a rejected plan is refused with the operator's note.
 */
export function createPlanGate(options: PlanGateOptions): PlanGate {
  const { registry, policy } = options;
  const short = (id: string) => id.slice(0, 12);
  // The node's log names the home; replies to the researcher never do (paths stay in the hospital).
  const command = (verb: string, id: string) => `fbm-node --home ${quote(options.homeDir)} plan ${verb} ${short(id)}`;
  const remote = (verb: string, id: string) => `fbm-node plan ${verb} ${short(id)}`;
  const announced = new Map<string, number>();
  const now = options.now ?? Date.now;
  const remindEveryMs = options.remindEveryMs ?? 60_000;

  return async (planId, plan, request = {}) => {
    const tooLarge = sizeRefusal(planId, plan, request);
    if (tooLarge) return tooLarge;
    if (!policy.planApproval) return undefined;
    const entry = await registry.recordRequest(planId, planJson(plan), {
      experiment: request.experiment ?? "",
      researcher: options.researcher,
      ...(request.datasetId === undefined ? {} : { dataset: request.datasetId }),
    });
    if (entry.status === "approved") return undefined;
    if (entry.status === "rejected") {
      const why = entry.note === "" ? "no reason given" : `"${entry.note}"`;
      return {
        kind: "error",
        code: "plan_rejected",
        planId,
        message: `Plan ${short(planId)} was rejected on node ${policy.name} (${why}); its operator can change that with \`${remote("approve", planId)}\``,
      };
    }
    // Asked on every poll while the researcher waits: said once, then a reminder at most every minute.
    const last = announced.get(planId);
    if (last === undefined || now() - last >= remindEveryMs) {
      announced.set(planId, now());
      options.log(
        `Plan ${short(planId)} from experiment "${request.experiment ?? "?"}" ${last === undefined ? "awaits" : `still awaits (requested ${entry.requestedAt})`} approval: review it with \`${command("show", planId)}\`, then \`${command("approve", planId)}\` or \`${command("reject", planId)} --note "..."\``,
      );
    }
    return {
      kind: "error",
      code: "plan_not_approved",
      planId,
      message: `Plan ${short(planId)} is not approved on node ${policy.name}: its operator runs \`${remote("approve", planId)}\``,
    };
  };

  function sizeRefusal(planId: string, plan: Plan, request: PlanRequest): ReplyBody | undefined {
    const { datasetId, preparation } = request;
    const dataset = datasetId === undefined ? undefined : options.catalogue.getDataset(datasetId);
    const shape = dataset && realSampleShape(plan, dataset, preparation);
    if (!dataset || !shape) return undefined; // the task fails on the dataset before any model is built
    const params = countPlanParams(plan, shape);
    if (params <= policy.maxParams) return undefined;
    return {
      kind: "error",
      code: "plan_too_large",
      planId,
      message:
        `Plan ${short(planId)} has ${params.toLocaleString("en-US")} parameters on dataset "${dataset.name}", more than ` +
        `node ${policy.name} allows (max_params ${policy.maxParams.toLocaleString("en-US")}); its operator can raise that with ` +
        "`fbm-node config set max_params N`",
    };
  }
}

/**
 * The per-sample input a task's model is built on: on a csv the real input width is the preparation's
 * (checked against the plan by preparation-check.ts), else the plan's on the dataset; undefined where
 * it cannot be told (the task then fails on the dataset before any model is built).
 */
export function realSampleShape(
  plan: Plan,
  dataset: DatasetEntry,
  preparation: TablePreparation | undefined,
): number[] | undefined {
  const planned = sampleShapeOf(plan, dataset);
  if (!planned) return undefined;
  return dataset.type === "csv" && preparation ? [preparedInputCount(preparation)] : planned;
}

/** Quotes a path for a shell command line only when it needs it. */
function quote(path: string): string {
  return /^[\w./:@%+,-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
