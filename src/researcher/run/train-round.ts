import { errorMessage } from "../../common/errors.js";
import { countsProblem } from "../../ml/metric-counts.js";
import { sampleBound } from "../../ml/plan-input.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { NamedTensor, Normalization, TrainingArgs, TrainResult } from "../../ml/types.js";
import type { AlgorithmExtension, BufferPool, TensorSpec, TrainTaskBody } from "../../wire/index.js";
import type { RunningMean } from "../aggregators/running-mean.js";
import type { Hub } from "../server/hub.js";
import { TaskFailure } from "../server/hub-error.js";
import { firstNonFinite, tensorsProblem } from "../server/reply-check.js";
import type { FailureCode, NodeFailure } from "./events.js";
import { createTakeBackBuffers, foldReply } from "./reply-fold.js";
import type { Participant } from "./roster.js";

/** One node's successful local training. */
export interface NodeUpdate {
  participant: Participant;
  result: TrainResult;
}

export interface RoundInput {
  /** What the nodes add to local training, told by name (the aggregator's descriptor). */
  algorithmExtension?: AlgorithmExtension;
  /** Told to each node when the round's updates are averaged by sample count (a relay may pre-average). */
  aggregation?: "weighted_mean";
  hub: Hub;
  experiment: string;
  participants: Participant[];
  round: number;
  planId: string;
  planJson: string;
  args: TrainingArgs;
  normalization?: Normalization;
  preparation?: TablePreparation;
  global: NamedTensor[];
  /** The tensors each reply must hold (default: `global`'s names and shapes). */
  expected?: NamedTensor[];
  timeoutMs: number;
  /**
   * Takes each valid update as it arrives (a running aggregate); its parameters are then dropped from
   * the returned update, so a round holds O(model) instead of O(model × nodes).
   */
  fold?: (update: NodeUpdate) => void;
  /**
   * Folds each reply into this running mean chunk by chunk as its bytes arrive (reply-fold.ts), so a
   * reply in flight is never assembled; a reply whose head fails the checks is read whole and fails
   * them as usual. Its updates come back without params.
   */
  foldChunks?: RunningMean;
  /**
   * Where folded replies keep their bytes until they count (reply-fold.ts): a pool the experiment keeps
   * from round to round (default: one for this round).
   */
  takeBack?: BufferPool;
  /**
   * The replies' parameters are not needed (the approval check, the final evaluation): they are
   * checked as they arrive, like folded ones, and dropped; the updates come back without params.
   */
  dropParams?: boolean;
  /** Why a reply cannot be used (default `checkUpdate` against `expected` and the dataset's size). */
  check?: (result: TrainResult, participant: Participant) => string | undefined;
  /** Adjusts one participant's task (secure aggregation: the shares sealed for that node). */
  taskFor?: (participant: Participant, task: TrainTaskBody) => TrainTaskBody;
  signal?: AbortSignal;
}

/** What every way of collecting a round needs: the round's task, without how replies are read. */
export type RoundCommon = Omit<RoundInput, "expected" | "fold" | "check" | "taskFor">;

/**
 * Sends one train task to each participant at once and gathers what comes back. Failed, late and
 * malformed replies are data (NodeFailure), never throws: the strategy decides what they mean.
 */
export async function runTrainRound(input: RoundInput): Promise<{ updates: NodeUpdate[]; failures: NodeFailure[] }> {
  const updates: NodeUpdate[] = [];
  const failures: NodeFailure[] = [];
  const slices = planSlices(input.planJson);
  const takeBack = input.foldChunks
    ? (input.takeBack ?? createTakeBackBuffers(input.expected ?? input.global))
    : undefined;
  await Promise.all(
    input.participants.map(async (participant) => {
      const maxSamples = sampleBound(participant.dataset, slices) || undefined;
      const expected = input.expected ?? input.global;
      const folding =
        input.foldChunks || input.dropParams
          ? foldReply(input.foldChunks, {
              headProblem: (result, tensors) => checkHead(result, tensors, expected, maxSamples),
              takeBack,
            })
          : undefined;
      const fail = (code: FailureCode, message: string) => {
        folding?.takeBack();
        failures.push({ node: participant.node, name: participant.name, code, message });
      };
      try {
        const task: TrainTaskBody = {
          kind: "train",
          datasetId: participant.dataset.id,
          planId: input.planId,
          planJson: input.planJson,
          args: input.args,
          normalization: input.normalization,
          preparation: input.preparation,
          round: input.round,
          params: input.global,
          replyTensors: input.expected,
          ...(input.algorithmExtension ? { algorithmExtension: input.algorithmExtension } : {}),
          ...(input.aggregation ? { aggregation: input.aggregation } : {}),
        };
        const reply = await input.hub.send(participant.node, input.taskFor?.(participant, task) ?? task, {
          timeoutMs: input.timeoutMs,
          signal: input.signal,
          experiment: input.experiment,
          receive: folding?.receive,
        });
        if (reply.kind === "error") return fail(reply.code, reply.message);
        if (reply.kind !== "train") return fail("bad_reply", `Node answered a train task with a ${reply.kind} reply`);
        if (folding?.folding) {
          if (folding.problem) return fail("invalid_update", folding.problem);
          folding.commit();
          updates.push({ participant, result: reply.result });
          return;
        }
        const problem = input.check
          ? input.check(reply.result, participant)
          : checkUpdate(reply.result, expected, maxSamples);
        if (problem) return fail("invalid_update", problem);
        const update = { participant, result: reply.result };
        if (input.fold) {
          input.fold(update);
          update.result = { ...update.result, params: [] };
        }
        updates.push(update);
      } catch (error) {
        if (error instanceof TaskFailure) return fail(error.reason, error.message);
        fail("internal", errorMessage(error));
      }
    }),
  );
  const order = (a: { node: string } | NodeUpdate, b: { node: string } | NodeUpdate) =>
    ("participant" in a ? a.participant.node : a.node).localeCompare("participant" in b ? b.participant.node : b.node);
  return { updates: updates.sort(order), failures: failures.sort(order) };
}

/**
 * Why an update cannot be aggregated (names, shapes, dtypes, non-finite values, a sample count that is
 * not a positive integer or exceeds `maxSamples`, the size of the dataset the node announced), or undefined.
 */
export function checkUpdate(result: TrainResult, global: NamedTensor[], maxSamples = 1e12): string | undefined {
  const problem = checkHead(result, result.params, global, maxSamples);
  if (problem) return problem;
  for (const got of result.params) {
    const at = firstNonFinite(got.data);
    if (at >= 0) return `tensor "${got.name}" contains ${got.data[at]}`;
  }
  return undefined;
}

/** The checks of `checkUpdate` that a reply's head answers, before its values arrive (`tensors`: what it announces). */
export function checkHead(
  result: TrainResult,
  tensors: readonly TensorSpec[],
  global: NamedTensor[],
  maxSamples = 1e12,
): string | undefined {
  if (!Number.isInteger(result.sampleCount) || result.sampleCount <= 0 || result.sampleCount > 1e12) {
    return `sample count ${result.sampleCount} is not a positive integer`;
  }
  if (result.sampleCount > maxSamples) {
    return `sample count ${result.sampleCount} exceeds the ${maxSamples} samples of its dataset`;
  }
  const problem = tensorsProblem(tensors, global);
  if (problem) return problem;
  for (const metrics of [result.globalMetrics, result.localMetrics]) {
    const wrong = metrics?.counts && countsProblem(metrics.counts, metrics.samples);
    if (wrong) return wrong;
  }
  return undefined;
}

/** plan.data.slices of a plan's JSON (medical folders), or undefined. */
function planSlices(planJson: string): string | undefined {
  try {
    return (JSON.parse(planJson) as { data?: { slices?: string } }).data?.slices;
  } catch {
    return undefined;
  }
}
