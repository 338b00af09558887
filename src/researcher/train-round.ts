import type { NamedTensor, Normalization, TrainingArgs, TrainResult } from "../ml/types.js";
import type { Hub } from "./hub.js";
import { TaskFailure } from "./hub-error.js";
import type { NodeFailure } from "./events.js";
import type { Participant } from "./roster.js";

/** One node's successful local training. */
export interface NodeUpdate {
  participant: Participant;
  result: TrainResult;
}

export interface RoundInput {
  hub: Hub;
  experiment: string;
  participants: Participant[];
  round: number;
  planId: string;
  planJson: string;
  args: TrainingArgs;
  normalization?: Normalization;
  global: NamedTensor[];
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Sends one train task to each participant at once and gathers what comes back. Failed, late and
 * malformed replies are data (NodeFailure), never throws: the strategy decides what they mean.
 */
export async function runTrainRound(input: RoundInput): Promise<{ updates: NodeUpdate[]; failures: NodeFailure[] }> {
  const updates: NodeUpdate[] = [];
  const failures: NodeFailure[] = [];
  await Promise.all(input.participants.map(async (participant) => {
    const fail = (code: string, message: string) => failures.push({ node: participant.node, name: participant.name, code, message });
    try {
      const reply = await input.hub.send(participant.node, {
        kind: "train",
        datasetId: participant.dataset.id,
        planId: input.planId,
        planJson: input.planJson,
        args: input.args,
        normalization: input.normalization,
        round: input.round,
        params: input.global,
      }, { timeoutMs: input.timeoutMs, signal: input.signal, experiment: input.experiment });
      if (reply.kind === "error") return fail(reply.code, reply.message);
      if (reply.kind !== "train") return fail("bad_reply", `Node answered a train task with a ${reply.kind} reply`);
      const problem = checkUpdate(reply.result, input.global);
      if (problem) return fail("invalid_update", problem);
      updates.push({ participant, result: reply.result });
    } catch (error) {
      if (error instanceof TaskFailure) return fail(error.reason, error.message);
      fail("internal", error instanceof Error ? error.message : String(error));
    }
  }));
  const order = (a: { node: string } | NodeUpdate, b: { node: string } | NodeUpdate) =>
    ("participant" in a ? a.participant.node : a.node).localeCompare("participant" in b ? b.participant.node : b.node);
  return { updates: updates.sort(order), failures: failures.sort(order) };
}

/** Why an update cannot be aggregated (names, shapes, dtypes, non-finite values, sample count), or undefined. */
export function checkUpdate(result: TrainResult, global: NamedTensor[]): string | undefined {
  if (!Number.isInteger(result.sampleCount) || result.sampleCount <= 0 || result.sampleCount > 1e12) {
    return `sample count ${result.sampleCount} is not a positive integer`;
  }
  if (result.params.length !== global.length) {
    return `it has ${result.params.length} tensors, the model has ${global.length}`;
  }
  for (let i = 0; i < global.length; i++) {
    const got = result.params[i];
    const want = global[i];
    if (got.name !== want.name || got.dtype !== want.dtype || got.shape.join(",") !== want.shape.join(",")) {
      return `tensor ${i} is "${got.name}" [${got.shape}] ${got.dtype}, expected "${want.name}" [${want.shape}] ${want.dtype}`;
    }
    for (const v of got.data) {
      if (!Number.isFinite(v)) return `tensor "${got.name}" contains ${v}`;
    }
  }
  return undefined;
}
