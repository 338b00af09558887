import { sha256Hex } from "../../common/canonical-json.js";
import { FbmError } from "../../common/errors.js";
import { frozenTest, hasFrozenLayers, trainedTensors } from "../../ml/frozen.js";
import { weightsDigest } from "../../ml/init-digest.js";
import { contentsLayout } from "../../ml/masked-contents.js";
import { declaresPreparation, type Plan, parsePlan } from "../../ml/plan.js";
import { planCost } from "../../ml/plan-size.js";
import { formatPhases } from "../../ml/round-phases.js";
import { trainLocal } from "../../ml/train.js";
import type { PrivacySpent } from "../../ml/types.js";
import { clipUpdate, leastSecaggClip, noiseShareStd } from "../../privacy/dp/central.js";
import { addGaussianNoise, createGaussian } from "../../privacy/dp/noise.js";
import { scaleOf } from "../../privacy/secagg/fixed-point.js";
import type { AlgorithmExtension, ReplyBody, TrainTaskBody } from "../../wire/index.js";
import { discloseMetrics, roundCount } from "../analytics/disclosure.js";
import { ownCategories } from "../catalogue/own-categories.js";
import { realSampleShape } from "../plans/plan-gate.js";
import {
  argumentBoundsRefusal,
  flopsRefusal,
  taskDeadline,
  taskFlops,
  trainLimitRefusal,
} from "../plans/task-limits.js";
import { TaskRefusal } from "../plans/task-refusal.js";
import { contributionKeys } from "../privacy/contribution-record.js";
import { budgetOf, distributedRoundRdp, liftBudgetCommand, localRoundRdp } from "../privacy/dataset-privacy.js";
import { PrivacyBudgetError } from "../privacy/privacy-ledger.js";
import { nodeTestSplit, validationRefusal } from "../privacy/validation-policy.js";
import type { TaskContext } from "../serve/poll-loop.js";
import { dpPlanRefusal, releaseUnderDp } from "./dp-release.js";
import type { NodeRuntime } from "./runtime.js";
import { scaffoldExtension } from "./scaffold.js";
import { secaggExtension } from "./secagg.js";
import { plainExtension, proximalArgs, type TrainExtension, taskExtension } from "./train-extension.js";

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

/** A catalogued dataset by id, or a runtime failure saying it is gone. */
export function datasetOf(runtime: NodeRuntime, id: string) {
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
  // plan.init: the approved plan names the digest of the weights round 1 starts from; the plain model sent must be those.
  const init = plan.init && "sha256" in plan.init ? plan.init.sha256 : undefined;
  if (
    init &&
    training &&
    task.round === 1 &&
    !task.secagg &&
    task.algorithmExtension !== "scaffold" &&
    weightsDigest(task.params) !== init
  )
    return {
      kind: "error",
      code: "invalid_input",
      message: `The round-1 weights are not the initial model this node approved (plan.init sha256 ${init.slice(0, 12)})`,
    };
  if (runtime.requireSecagg && training && !task.secagg) {
    return {
      kind: "error",
      code: "secagg_required",
      message:
        "This node trains only under secure aggregation (config require_secagg is true): add `secagg: {}` to the experiment, or run `fbm-node config set require_secagg false` on the node",
    };
  }
  const entry = datasetOf(runtime, task.datasetId);
  const unvalidated = validationRefusal(entry, task.args, runtime.privacy.maxEpsilon, {
    secagg: task.secagg !== undefined,
  });
  if (unvalidated) {
    runtime.log(`Refused: ${unvalidated.message}`);
    return unvalidated;
  }
  const tooMuch =
    runtime.limits &&
    (argumentBoundsRefusal(task.args, runtime.limits) ??
      trainLimitRefusal(task.args, entry.sampleCount, runtime.limits));
  const shape = runtime.limits && training ? realSampleShape(plan, entry, task.preparation) : undefined;
  const refused =
    tooMuch ??
    (shape && runtime.limits
      ? flopsRefusal(taskFlops(planCost(plan, shape).flops, task.args, entry.sampleCount), runtime.limits)
      : undefined);
  if (refused) {
    runtime.log(`Refused: ${refused.message}`);
    return refused;
  }
  const deadline = runtime.limits && taskDeadline(context.signal, runtime.limits.maxTaskSeconds);
  if (task.secagg) runtime.log(`Round ${task.round}: training under secure aggregation`);
  const { secagg } = task;
  const distributed = secagg && task.args.dp?.mode === "central" ? task.args.dp : undefined;
  const participant = secagg && runtime.secagg.get(secagg.session);
  if (distributed && participant) {
    // The node checks what the researcher set: its noise must come through the fixed-point encoding.
    const problem = noiseEncodingProblem(distributed, secagg, participant.threshold);
    if (problem) return { kind: "error", code: "invalid_input", message: problem };
  }
  /** Under secure aggregation: the record's keys for what this node is about to put into the sum. */
  let contribution: string[] | undefined;
  const algorithm = taskExtension(task);
  const scaffold =
    algorithm === "scaffold"
      ? scaffoldExtension({
          params: task.params,
          store: runtime.controls,
          key: `${experiment ?? ""}/${task.planId}`,
          training,
          learningRate: plan.optimizer.learning_rate,
        })
      : undefined;
  if (algorithm === "scaffold" && !scaffold) {
    return { kind: "error", code: "invalid_input", message: "The task names SCAFFOLD but carries no control variates" };
  }
  const extension =
    secagg && participant
      ? secaggExtension({
          model: task.params,
          masking: secagg,
          participant,
          contents: contentsLayout(plan, task.args),
          unweighted: distributed !== undefined,
          transform: distributed ? distributedNoise(distributed, participant.threshold) : runtime.secaggTransform,
          inner: scaffold,
          frozen: hasFrozenLayers(plan) ? frozenTest(plan) : undefined,
          onInput: (update, contents) => {
            contribution = contributionKeys(update, contents);
          },
          onClipped: runtime.onSecaggUpdate && ((u) => runtime.onSecaggUpdate?.(secagg.session, u)),
        })
      : (scaffold ?? plainExtension(task.params));
  const checkOnly =
    task.args.epochs === 0 && task.args.updates === 0 && !task.args.testOnGlobal && !task.args.testOnLocal;
  if (checkOnly && task.preparation === undefined && entry.type === "csv" && declaresPreparation(plan)) {
    // The approval check comes before the preparation is resolved: nothing to load yet.
    runtime.log(`Plan ${task.planId.slice(0, 12)} is approved for "${entry.name}"; its table preparation comes next`);
    const sampleCount = roundCount(entry.sampleCount, runtime.analytics.minCount); // as toDatasetInfo's
    const result = { params: trainedTensors(plan, extension.model), sampleCount, trainLoss: 0, seconds: 0 };
    return { kind: "train", result: extension.reply(releaseUnderDp(result, task.args.dp)) };
  }
  const roundStarted = performance.now();
  // The process's CPU time (every thread: training threads, garbage collection, I/O) over the round, for
  // its log line: steadier than its seconds on a shared machine, and what the round costs the host.
  const cpuStarted = process.cpuUsage();
  const { data, mapped } = ownCategories(
    await runtime.loader.load(entry, plan, task.preparation),
    task.preparation,
    runtime.analytics.minCount,
  );
  const loadSeconds = (performance.now() - roundStarted) / 1000;
  if (mapped.length > 0)
    runtime.log(`Inputs ${mapped.join(", ")} are 0 here: this node did not publish them (min_count)`);
  let privacy: PrivacySpent | undefined;
  if (training) {
    const charged = await chargePrivacy(runtime, task, entry, data.rows, experiment ?? "");
    if (charged.kind === "error") return charged;
    privacy = charged.privacy;
  }
  let lastSent = 0;
  const result = await trainLocal({
    ...paramsCopied(task, extension, algorithm, context),
    plan,
    data,
    params: extension.model,
    args: proximalArgs(task.args, algorithm),
    normalization: task.normalization,
    testSplit: nodeTestSplit(entry, runtime.analytics.minCount),
    round: task.round,
    signal: deadline?.signal ?? context.signal,
    threads: runtime.threads,
    ...(runtime.warm ? { warm: { rounds: runtime.warm, experiment: experiment ?? "" } } : {}),
    gradientCorrection: extension.gradientCorrection,
    onProgress: (p) => {
      // Under secure aggregation the loss goes only into the masked sum: no progress feedback carries it.
      if (task.secagg) return;
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
  // The node's seconds are its whole round, from the data load (its first phase) to the reply.
  if (result.phases) result.phases.load = loadSeconds;
  result.seconds = (performance.now() - roundStarted) / 1000;
  if (!training && !task.args.testOnGlobal && !task.args.testOnLocal) {
    runtime.log(
      `Plan ${task.planId.slice(0, 12)} is ready to train on "${entry.name}" (${result.sampleCount} training samples)`,
    );
  } else if (!training) {
    runtime.log(`Validated the global model on "${entry.name}": ${formatMetrics(result.globalMetrics?.values)}`);
  } else {
    runtime.log(
      `Round ${task.round}: trained on "${entry.name}" (${result.sampleCount} samples) in ${result.seconds.toFixed(1)} s (${result.engine}), ${cpuSeconds(cpuStarted).toFixed(2)} s of CPU, loss ${result.trainLoss.toFixed(4)}`,
    );
  }
  if (result.phases) runtime.debug?.(`Round ${task.round} on "${entry.name}": ${formatPhases(result.phases)}`);
  // Under secure aggregation the reply carries as little as it can: the phases stay in the node's log.
  if (task.secagg) delete result.phases;
  if (training && task.args.dp?.mode === "central") {
    result.params = clipUpdate(extension.model, result.params, task.args.dp.clipNorm);
  }
  // Frozen layers come back unchanged: the researcher keeps its own (frozen.ts).
  result.params = trainedTensors(plan, result.params);
  if (privacy) result.privacy = privacy;
  result.globalMetrics = discloseMetrics(result.globalMetrics, runtime.analytics.minCount);
  result.localMetrics = discloseMetrics(result.localMetrics, runtime.analytics.minCount);
  const reply = extension.reply(releaseUnderDp(result, task.args.dp));
  if (secagg && training && contribution && runtime.contributions) {
    // The masked input is held back unless this very contribution never went into a sum of other nodes.
    const peers = secagg.shares.map((s) => s.from);
    const repeat = await runtime.contributions.train(secagg.session, contribution, peers);
    if (repeat) {
      runtime.log(`Refused: ${repeat}`);
      return { kind: "error", code: "secagg_repeat", message: repeat };
    }
  }
  return { kind: "train", result: reply };
}

/**
 * When a train task's parameter buffer may go back to the poll loop's pool (`taskBuffers`, wire/buffer-pool.ts),
 * as `trainLocal`'s `onParamsCopied`. Every place a task's parameter arrays (`task.params`, views of that
 * one buffer) flow to in src/node/** and src/ml/**, and why giving it back there is safe:
 * - `weightsDigest` (plan.init check, above): reads them before training, keeps nothing.
 * - the check-only reply (`trainedTensors(plan, extension.model)`, above): the reply carries the task's
 *   own tensors, and its chunks are views of them until they have left: it returns before `trainLocal`,
 *   so it never releases (the poll loop adopts the buffer out).
 * - `scaffoldExtension`, `secaggExtension`: keep the model to build their reply (the update is trained −
 *   sent, the masked input, the control variates): never released.
 * - central DP: `clipUpdate(extension.model, …)` reads the sent model after training: never released.
 * - `trainLocal` on the tfjs path (`setParams`: tfjs's cpu backend keeps the typed arrays it is given, and
 *   a warm network, ml/engine/warm-rounds.ts, keeps them into the next round): never released.
 * - `trainLocal` on the kernels path (including a validation-only round on a kept kernels session):
 *   `flatParams` copies every value into the round's own flat array, and nothing reads `params` after it
 *   (the trained tensors are `namedParams` copies, FedProx's anchor a copy of the flat array): released
 *   there, before the steps. The plain reply (`plainExtension`, `releaseUnderDp`, `trainedTensors`) reads
 *   only the trained copies.
 * - the poll loop, node status and GUI read the task's id, kind and experiment only.
 * So: only plain rounds (no extension beyond FedProx, no central DP) pass it on; the rest never call it.
 */
function paramsCopied(
  task: TrainTaskBody,
  extension: TrainExtension,
  algorithm: AlgorithmExtension | undefined,
  context: TaskContext,
): { onParamsCopied?: () => void } {
  const plain = extension.model === task.params && (algorithm === undefined || algorithm === "fedprox");
  return plain && context.paramsCopied && task.args.dp?.mode !== "central" && !task.secagg
    ? { onParamsCopied: context.paramsCopied }
    : {};
}

/**
 * Why the masking would spoil this node's noise share, or undefined: a clip that clamps it (below
 * leastSecaggClip), or quantization steps coarser than a tenth of its std.
 */
function noiseEncodingProblem(
  dp: { noiseMultiplier: number; clipNorm: number },
  masking: { clip: number; bits: number },
  threshold: number,
): string | undefined {
  const least = leastSecaggClip(dp);
  if (masking.clip < least) {
    return `Secure aggregation's clip ${masking.clip} would cut this node's DP noise: with clip_norm ${dp.clipNorm} and noise_multiplier ${dp.noiseMultiplier} set secagg.clip to ${Number(least.toPrecision(6))} or more`;
  }
  const std = noiseShareStd(dp.noiseMultiplier, dp.clipNorm, Math.max(1, threshold));
  const step = 1 / scaleOf(masking);
  if (step > std / 10) {
    return `Secure aggregation's ${masking.bits} bits quantize this node's DP noise (std ${std.toPrecision(3)}) in steps of ${step.toPrecision(3)}, coarser than a tenth of it: use more secagg.bits (or auto) or a smaller secagg.clip`;
  }
  return undefined;
}

/**
 * Distributed DP under secure aggregation (issue 24, finding 6): this node's share of the Gaussian noise,
 * std σ·C/√t, added to its clipped update before it is quantized and masked. t is the threshold the node
 * itself accepted in ShareKeys: no sum is unmasked with fewer than t survivors, so the unmasked sum holds
 * at least t shares, variance ≥ (σ·C)², whatever the allowed dropouts (Truex et al. 2019; the design and
 * its limits in README "Differential privacy"). The noise comes from node:crypto.
 */
function distributedNoise(dp: { noiseMultiplier: number; clipNorm: number }, threshold: number) {
  const std = noiseShareStd(dp.noiseMultiplier, dp.clipNorm, threshold);
  const gaussian = createGaussian();
  return (update: Float32Array[]) => {
    for (const t of update) addGaussianNoise(t, std, gaussian);
    return update;
  };
}

/**
 * The node's privacy policy before a training round: a dataset with a budget trains only under local
 * DP-SGD or distributed DP (central DP under secure aggregation, where this node adds its own noise
 * share; plain central DP's noise is added by the researcher, which the node cannot check), and such a
 * round is charged to the ledger, under its lock, before any training; a round that would pass the budget
 * is refused. Charging first means a round that then fails, or is cancelled (task_cancelled), still counts
 * (the conservative side: no refund, so no released update can ever go uncounted).
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
  // Central DP under secure aggregation is distributed: this node adds its own share of the noise.
  const distributed = dp?.mode === "central" && task.secagg !== undefined;
  if (budget !== undefined && dp?.mode !== "local" && !distributed) {
    const setting = liftBudgetCommand(entry, budgetFrom);
    return {
      kind: "error",
      code: "privacy_budget",
      message:
        `Dataset "${entry.name}" (${entry.id}) has a privacy budget (ε ${budget}): this node trains on it only ` +
        `with local differential privacy (dp: {mode: local, …} in the experiment) or with central DP under ` +
        `secure aggregation (dp: {mode: central, …} and secagg: {})${dp ? `, not ${dp.mode} alone` : ""}; ` +
        `the operator can lift the budget with \`${setting}\``,
    };
  }
  if (dp === undefined || (dp.mode !== "local" && !distributed)) return { kind: "ok" };
  try {
    const charged = await runtime.privacy.ledger.charge({
      sha256: entry.sha256,
      datasetId: entry.id,
      datasetName: entry.name,
      experiment,
      round: task.round,
      rdp: distributed ? distributedRoundRdp(dp) : localRoundRdp(task.args, dp, rows, runtime.analytics.minCount),
      delta: dp.delta,
      budget,
      budgetDelta: runtime.privacy.delta,
    });
    runtime.log(
      `Round ${task.round}: charged "${entry.name}" for ${distributed ? "distributed DP under secure aggregation" : "DP-SGD"}; the dataset has spent ε ${charged.datasetEpsilon.toFixed(3)} at δ ${runtime.privacy.delta}${budget !== undefined ? ` of ${budget}` : ""}`,
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

function formatMetrics(values: Record<string, number> | undefined): string {
  return values
    ? Object.entries(values)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(", ")
    : "no test rows";
}

/** CPU seconds of this process (every thread) since `since` (a `process.cpuUsage()`). */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}
