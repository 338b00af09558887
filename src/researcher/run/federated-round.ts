import { RuntimeFailure } from "../../common/errors.js";
import { taskKind } from "../../ml/metrics.js";
import type { DpArgs } from "../../ml/types.js";
import { noisyMean } from "../../privacy/dp/central.js";
import { createGaussian } from "../../privacy/dp/noise.js";
import { plainExchange } from "../aggregators/exchange.js";
import type { Aggregator, AggregatorState } from "../aggregators/index.js";
import { createRunningMean } from "../aggregators/running-mean.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent, NodeFailure } from "./events.js";
import { pooledMetrics } from "./pooled-metrics.js";
import { type RoundPrivacy, roundPrivacy } from "./round-privacy.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import type { SecaggConfig } from "./secagg-config.js";
import { secureRound } from "./secure-round.js";
import { selectNodes } from "./selection.js";
import { type NodeUpdate, type RoundCommon, runTrainRound } from "./train-round.js";

/**
 * One round: pick this round's nodes, send them the global model, fold their updates into the next
 * global model, and return it with the round's event (the caller saves the breakpoint, then emits it).
 */
export async function federatedRound(
  run: RunContext,
  aggregator: Aggregator,
  inputs: RunInputs,
  previous: TrainingState,
): Promise<{ training: TrainingState; event: ExperimentEvent }> {
  const { config, roster, signal } = run;
  const round = previous.round + 1;
  const global = previous.global;
  signal?.throwIfAborted();
  const started = performance.now();
  if (roster.participants().length < config.nodes.min) {
    await roster.waitFor(config.nodes.min, { waitMs: config.nodes.waitMs, signal });
  }
  const chosen = selectNodes(roster.participants(), {
    sample: config.nodes.sample,
    min: config.nodes.min,
    seed: config.training.seed,
    round,
  });
  const nodeArgs = aggregator.nodeArgs({
    global: global.map((t) => t.data as Float32Array),
    state: previous.aggregatorState,
  });
  const dp = config.dp;
  const central = dp?.mode === "central";
  const sampleRate = chosen.length / Math.max(1, roster.participants().length);
  const common = {
    hub: run.hub,
    experiment: config.name,
    participants: chosen,
    round,
    planId: run.plan.id,
    planJson: run.plan.json,
    args: {
      ...config.training,
      fedproxMu: nodeArgs.fedproxMu ?? 0,
      ...(dp ? { dp: central ? { ...dp, sampleRate } : dp } : {}),
    },
    normalization: inputs.normalization,
    preparation: inputs.preparation,
    global,
    timeoutMs: config.nodes.roundTimeoutMs,
    signal,
  };
  const { updates, failures, aggregated } = config.secagg
    ? await secureCollect(common, config.secagg, run)
    : await plainCollect(common, aggregator, previous.aggregatorState, central ? dp : undefined);
  for (const f of failures)
    run.emit({ event: "error", round, node: f.node, code: f.code, message: `${f.name}: ${f.message}` });
  // Under secure aggregation dropouts are expected: the threshold, checked by the protocol, decides.
  if (!config.secagg) checkRound(config, round, updates, failures);
  const privacy = dp
    ? roundPrivacy({ dp, updates, history: previous.history, sampleRate: central ? sampleRate : 0 })
    : undefined;
  const out = aggregator.aggregate({
    round,
    global: global.map((t) => t.data as Float32Array),
    updates: aggregated,
    state: previous.aggregatorState,
    totalNodes: roster.participants().length,
  });
  const event = roundEvent(config, round, updates, failures, performance.now() - started, privacy);
  return {
    training: {
      round,
      global: global.map((t, i) => ({ ...t, data: out.params[i] })),
      aggregatorState: out.state,
      history: [...previous.history, event],
    },
    event,
  };
}

/**
 * Plain rounds: the algorithm's tensors out (its TensorExchange), replies read back, folded when it can.
 * Central DP needs every update to clip and sum with noise: it cannot fold them as they come.
 */
async function plainCollect(input: RoundCommon, aggregator: Aggregator, state: AggregatorState, central?: DpArgs) {
  const exchange = aggregator.exchange ?? plainExchange;
  const { global } = input;
  const running = aggregator.foldable && !central ? createRunningMean(global.map((t) => t.data.length)) : undefined;
  const read = (u: NodeUpdate) =>
    exchange.read(
      {
        nodeId: u.participant.node,
        samples: u.result.sampleCount,
        tensors: u.result.params.map((p) => p.data as Float32Array),
      },
      global,
    );
  const { updates, failures } = await runTrainRound({
    ...input,
    // Replies go into the sum chunk by chunk when the exchange reads them back unchanged.
    foldChunks: exchange.foldable ? running : undefined,
    fold:
      running &&
      ((u) => {
        const update = read(u);
        running.add(update.params, update.samples);
      }),
    global: exchange.outgoing(global, state),
    expected: exchange.expected(global),
  });
  if (central) {
    const params = noisyMean(
      global.map((t) => t.data as Float32Array),
      updates.map((u) => read(u).params),
      { noiseMultiplier: central.noiseMultiplier, clipNorm: central.clipNorm, gaussian: createGaussian() },
    );
    return { updates, failures, aggregated: [{ nodeId: "central-dp", samples: 1, params }] };
  }
  return { updates, failures, aggregated: running ? [running.result()] : updates.map(read) };
}

/** Secure aggregation: only the sum comes back, as the one update of a foldable aggregator. */
async function secureCollect(input: RoundCommon, secagg: SecaggConfig, run: RunContext) {
  const { update, updates, failures } = await secureRound({ ...input, secagg, log: run.log });
  return { updates, failures, aggregated: [update] };
}

/**
 * Stops the run on a failed round (`on_failure: stop`) or when too few updates came back. A reply the
 * researcher refused to use (not finite, more samples than announced, wrong tensors) does not stop the
 * run even under `stop`: one lying node must not halt everyone's experiment. It is dropped (and reported
 * as an error event) while nodes.min updates remain.
 */
export function checkRound(
  config: Pick<Experiment, "nodes">,
  round: number,
  updates: NodeUpdate[],
  failures: NodeFailure[],
): void {
  if (failures.length === 0) return;
  const detail = failures.map((f) => `${f.name}: ${f.message}`).join("; ");
  const stopping = failures.filter((f) => !(droppable as readonly string[]).includes(f.code));
  if (config.nodes.onFailure === "stop" && stopping.length > 0) {
    throw new RuntimeFailure(`Round ${round} failed on ${failures.length} node(s): ${detail}`);
  }
  if (updates.length < config.nodes.min) {
    throw new RuntimeFailure(
      `Round ${round} has ${updates.length} update(s), fewer than nodes.min ${config.nodes.min}: ${detail}`,
    );
  }
}

/** Failures that are a node's bad reply rather than a node unable to take part. */
const droppable = ["invalid_update", "bad_reply"] as const;

function roundEvent(
  config: Experiment,
  round: number,
  updates: NodeUpdate[],
  failures: NodeFailure[],
  ms: number,
  privacy: RoundPrivacy | undefined,
): ExperimentEvent {
  // Under secure aggregation nodes tell no sample count: their losses then weigh alike.
  const hidden = updates.every((u) => u.result.sampleCount === 0);
  const weight = (u: NodeUpdate) => (hidden ? 1 : u.result.sampleCount);
  // Nodes under dp withhold their loss (it is computed on raw rows): the mean is over those that sent one.
  const losing = updates.filter((u) => u.result.trainLoss !== undefined);
  const samples = losing.reduce((s, u) => s + weight(u), 0);
  const loss =
    losing.length > 0 ? losing.reduce((s, u) => s + (u.result.trainLoss ?? 0) * weight(u), 0) / samples : undefined;
  const kind = taskKind(config.plan);
  const global = pooledMetrics(
    updates.map((u) => u.result.globalMetrics),
    kind,
  );
  const local = pooledMetrics(
    updates.map((u) => u.result.localMetrics),
    kind,
  );
  const aucError = {
    ...(global.aucError === undefined ? {} : { global: global.aucError }),
    ...(local.aucError === undefined ? {} : { local: local.aucError }),
  };
  return {
    event: "round",
    round,
    rounds: config.rounds,
    nodes: updates.map((u) => ({
      node: u.participant.node,
      name: u.participant.name,
      samples: u.result.sampleCount,
      ...(u.result.trainLoss === undefined ? {} : { loss: u.result.trainLoss }),
      seconds: u.result.seconds,
      global: u.result.globalMetrics?.values,
      local: u.result.localMetrics?.values,
      ...(u.result.privacy ? { privacy: u.result.privacy } : {}),
    })),
    failed: failures,
    ...(loss === undefined ? {} : { loss }),
    metrics: { ...(global.values ? { global: global.values } : {}), ...(local.values ? { local: local.values } : {}) },
    ...(Object.keys(aucError).length > 0 ? { auc_error: aucError } : {}),
    seconds: ms / 1000,
    time: Date.now() / 1000,
    ...(privacy ? { privacy } : {}),
  };
}
