import { setTimeout as delay } from "node:timers/promises";
import { RuntimeFailure } from "../../common/errors.js";
import type { NamedTensor, TrainingArgs } from "../../ml/types.js";
import type { ReplyErrorCode } from "../../wire/index.js";
import type { Hub } from "../server/hub.js";
import type { NodeFailure } from "./events.js";
import type { Participant } from "./roster.js";
import { runTrainRound } from "./train-round.js";

/**
 * What the approval check does with each error a node may answer it with: wait for the operator
 * (ask again while `nodes.wait` lasts), stop the run now, or leave it to round 1 to report.
 */
const onError: Record<ReplyErrorCode, "wait" | "refused" | "round 1"> = {
  plan_not_approved: "wait",
  plan_rejected: "refused",
  plan_too_large: "refused",
  privacy_budget: "round 1",
  validation_refused: "round 1",
  invalid_input: "round 1",
  failed: "round 1",
  internal: "round 1",
  node_stopping: "round 1",
  secagg_required: "refused",
  dp_unsupported: "refused",
  too_many_parameters: "round 1",
  below_min_count: "round 1",
  iteration_cap: "round 1",
  secagg_cohort: "round 1",
  secagg_verify: "round 1",
  secagg_repeat: "round 1",
  preparation_mismatch: "refused",
  preparation_too_large: "refused",
  task_too_large: "refused",
  task_timeout: "round 1",
  task_out_of_bounds: "refused",
  task_cancelled: "round 1",
  relay_unsupported: "refused",
};

/** What to do about one node's failure; failures on the researcher's side (a lost node, a timeout) go to round 1. */
function decide(f: NodeFailure): "wait" | "refused" | "round 1" {
  return Object.hasOwn(onError, f.code) ? onError[f.code as ReplyErrorCode] : "round 1";
}

export interface ApprovalInput {
  hub: Hub;
  experiment: string;
  participants: Participant[];
  planId: string;
  planJson: string;
  /** The initial global parameters (the check is a train task, so it carries them). */
  global: NamedTensor[];
  /** The tensors nodes send back: all but frozen layers' (frozen.ts); default `global`. */
  trained?: NamedTensor[];
  args: TrainingArgs;
  /** How long to keep asking nodes whose operator has not decided yet (`nodes.wait`); 0: do not wait. */
  waitMs: number;
  timeoutMs: number;
  /** Called once per node and refusal code, as soon as a node refuses (the runner emits an `error` event). */
  onRefusal: (failure: NodeFailure) => void;
  /** Called after each ask while nodes still await their operator: who, and how long the wait has left. */
  onWaiting?: (pending: NodeFailure[], msLeft: number) => void;
  retryMs?: number;
  signal?: AbortSignal;
}

/**
 * Before round 1, asks every participant whether it will run the plan: an evaluation-only train task
 * (no epochs, no updates, no validation) that a node refuses with a code when its operator has not
 * approved the plan. Nodes still awaiting a decision are asked again every `retryMs` until `waitMs` runs
 * out; a rejection or an oversized plan ends the wait at once. Throws one RuntimeFailure naming, per
 * refusing node, what its operator must run. Other failures are left to round 1 to report.
 */
export async function awaitPlanApproval(input: ApprovalInput): Promise<void> {
  const retryMs = input.retryMs ?? 2000;
  const deadline = Date.now() + input.waitMs;
  const reported = new Set<string>();
  let asking = input.participants;
  for (;;) {
    const { failures } = await runTrainRound({
      hub: input.hub,
      experiment: input.experiment,
      participants: asking,
      round: 0,
      planId: input.planId,
      planJson: input.planJson,
      args: { ...input.args, epochs: 0, updates: 0, testOnGlobal: false, testOnLocal: false, fedproxMu: 0 },
      global: input.global,
      expected: input.trained,
      timeoutMs: input.timeoutMs,
      signal: input.signal,
      dropParams: true, // only refusals matter: no node's model is held
    });
    const refusals = failures
      .filter((f) => decide(f) !== "round 1")
      .map((f) => ({ ...f, message: printable(f.message) }));
    for (const f of refusals) {
      if (reported.has(`${f.node} ${f.code}`)) continue;
      reported.add(`${f.node} ${f.code}`);
      input.onRefusal(f);
    }
    const pending = refusals.filter((f) => decide(f) === "wait");
    if (refusals.length === 0) return;
    if (pending.length < refusals.length) throw refusedBy(input.planId, refusals, "");
    if (Date.now() + retryMs > deadline) {
      const waited =
        input.waitMs > 0
          ? ` (waited ${Math.round(input.waitMs / 1000)} s for approval: nodes.wait)`
          : " (set nodes.wait to wait for approval)";
      throw refusedBy(input.planId, pending, waited);
    }
    input.onWaiting?.(pending, deadline - Date.now());
    await delay(retryMs, undefined, { signal: input.signal });
    asking = input.participants.filter((p) => pending.some((f) => f.node === p.node));
  }
}

function refusedBy(planId: string, refusals: NodeFailure[], suffix: string): RuntimeFailure {
  const nodes = refusals.map((f) => `${f.name} (${f.node}): ${f.message}`).join("; ");
  return new RuntimeFailure(
    `Cannot train plan ${planId.slice(0, 12)}: ${refusals.length} node(s) refused it: ${nodes}${suffix}`,
  );
}

/** A peer's text on one line, bounded: it ends up in the researcher's terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
