import { RuntimeFailure } from "../../common/errors.js";
import { trainedTensors, withFrozen } from "../../ml/frozen.js";
import { defaultMetrics, taskKind } from "../../ml/metrics.js";
import type { Plan } from "../../ml/plan.js";
import type { DpArgs, NamedTensor } from "../../ml/types.js";
import { noisyMean } from "../../privacy/dp/central.js";
import { createGaussian } from "../../privacy/dp/noise.js";
import { plainExchange } from "../aggregators/exchange.js";
import type { Aggregator, AggregatorState } from "../aggregators/index.js";
import { type RunningMean, reuseRunningMean } from "../aggregators/running-mean.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent, NodeFailure } from "./events.js";
import { pooledMetrics } from "./pooled-metrics.js";
import { createTakeBackBuffers } from "./reply-fold.js";
import { type RoundPrivacy, roundPrivacy } from "./round-privacy.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import type { SecaggConfig } from "./secagg-config.js";
import { type PooledContents, secureRound } from "./secure-round.js";
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
  // Nodes get the whole model; they send back, and the aggregator sees, all but frozen layers (frozen.ts).
  const whole = previous.global;
  const global = trainedTensors(config.plan, whole);
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
  run.takeBack ??= createTakeBackBuffers(global);
  const common = {
    hub: run.hub,
    experiment: config.name,
    participants: chosen,
    round,
    planId: run.plan.id,
    planJson: run.plan.json,
    args: {
      ...config.training,
      ...(nodeArgs.globalLoss ? withGlobalLoss(config.training.metrics, config.plan) : {}),
      fedproxMu: nodeArgs.fedproxMu ?? 0,
      ...(dp ? { dp: central ? { ...dp, sampleRate } : dp } : {}),
    },
    normalization: inputs.normalization,
    preparation: inputs.preparation,
    global: whole,
    trained: global,
    timeoutMs: config.nodes.roundTimeoutMs,
    signal,
    takeBack: run.takeBack,
    ...(nodeArgs.extension ? { algorithmExtension: nodeArgs.extension } : {}),
  };
  const { updates, failures, aggregated, pooled } = config.secagg
    ? await secureCollect(common, config.secagg, run, aggregator, previous.aggregatorState)
    : {
        ...(await plainCollect(common, aggregator, previous.aggregatorState, central ? dp : undefined, run)),
        pooled: undefined,
      };
  // Secure rounds report each failure as it happens (secureCollect), as a stopped round must too.
  if (!config.secagg) for (const f of failures) emitFailure(run, round, f);
  // Under secure aggregation dropouts are expected: the threshold, checked by the protocol, decides.
  if (!config.secagg) checkRound(config, round, updates, failures);
  // Distributed DP (central under secagg) guards against the researcher, who picks the nodes: q = 1.
  const accountedRate = config.secagg ? 1 : sampleRate;
  const privacy = dp
    ? roundPrivacy({ dp, updates, history: previous.history, sampleRate: central ? accountedRate : 0 })
    : undefined;
  const out = aggregator.aggregate({
    round,
    global: global.map((t) => t.data as Float32Array),
    updates: aggregated,
    state: previous.aggregatorState,
    totalNodes: roster.participants().length,
  });
  const event = roundEvent(config, round, updates, failures, performance.now() - started, privacy, pooled);
  return {
    training: {
      round,
      global: withFrozen(config.plan, whole, out.params),
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
async function plainCollect(
  input: RoundCommon & { trained: NamedTensor[] },
  aggregator: Aggregator,
  state: AggregatorState,
  central: DpArgs | undefined,
  /** Keeps the running mean from one round to the next. */
  keep: { running?: RunningMean },
) {
  const exchange = aggregator.exchange ?? plainExchange;
  const { trained: global, ...common } = input;
  let running: RunningMean | undefined;
  if (aggregator.foldable && !central) {
    running = reuseRunningMean(
      keep.running,
      global.map((t) => t.data.length),
    );
    keep.running = running;
  }
  const read = (u: NodeUpdate) =>
    exchange.read(
      {
        nodeId: u.participant.node,
        samples: u.result.sampleCount,
        tensors: u.result.params.map((p) => p.data as Float32Array),
        loss: u.result.globalMetrics?.values.loss,
      },
      global,
    );
  const { updates, failures } = await runTrainRound({
    ...common,
    // Replies go into the sum chunk by chunk when the exchange reads them back unchanged.
    foldChunks: exchange.foldable ? running : undefined,
    // Only a plain weighted mean lets a relay answer for its nodes with one update (src/researcher/relay/).
    ...(running && exchange.foldable ? { aggregation: "weighted_mean" as const } : {}),
    fold:
      running &&
      ((u) => {
        const update = read(u);
        running.add(update.params, update.samples);
      }),
    global: exchange.outgoing(input.global, state),
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

/**
 * Secure aggregation: only the sum comes back, as the one update of the aggregator. SCAFFOLD (the one
 * aggregator with its own exchange) sends c beside the model and gets Σ Δcᵢ in the update's controlDelta.
 */
async function secureCollect(
  input: RoundCommon & { trained: NamedTensor[] },
  secagg: SecaggConfig,
  run: RunContext,
  aggregator: Aggregator,
  state: AggregatorState,
) {
  const outgoing = aggregator.exchange?.outgoing(input.global, state);
  const { update, updates, failures, pooled } = await secureRound({
    ...input,
    secagg,
    outgoing,
    log: run.log,
    identities: run.identities,
    onFailure: (f) => emitFailure(run, input.round, f),
  });
  return { updates, failures, aggregated: [update], pooled };
}

function emitFailure(run: RunContext, round: number, f: NodeFailure): void {
  run.emit({ event: "error", round, node: f.node, code: f.code, message: `${f.name}: ${f.message}` });
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
  pooled: PooledContents | undefined,
): ExperimentEvent {
  const nodes = updates.map((u) => ({
    node: u.participant.node,
    name: u.participant.name,
    samples: u.result.sampleCount,
    // Under secure aggregation a node's loss and metrics went only into the masked sum; under dp a node
    // withholds its loss (it is computed on raw rows).
    ...(pooled || u.result.trainLoss === undefined ? {} : { loss: u.result.trainLoss }),
    seconds: u.result.seconds,
    ...(u.result.phases ? { phases: u.result.phases } : {}),
    global: u.result.globalMetrics?.values,
    local: u.result.localMetrics?.values,
    ...(u.result.privacy ? { privacy: u.result.privacy } : {}),
  }));
  const common = { event: "round" as const, round, rounds: config.rounds, nodes, failed: failures };
  const end = { seconds: ms / 1000, time: Date.now() / 1000, ...(privacy ? { privacy } : {}) };
  if (pooled) {
    // Under dp the nodes put zeros for their loss and local metrics into the masked sum (withheld).
    if (config.dp) {
      const { local: _withheld, ...metrics } = pooled.metrics;
      return { ...common, metrics, ...end };
    }
    return { ...common, loss: pooled.loss, metrics: pooled.metrics, ...end };
  }
  // The mean loss is over the nodes that sent one.
  const losing = updates.filter((u) => u.result.trainLoss !== undefined);
  const samples = losing.reduce((s, u) => s + u.result.sampleCount, 0);
  const loss =
    losing.length > 0 && samples > 0
      ? losing.reduce((s, u) => s + (u.result.trainLoss ?? 0) * u.result.sampleCount, 0) / samples
      : undefined;
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
    ...common,
    ...(loss === undefined ? {} : { loss }),
    metrics: { ...(global.values ? { global: global.values } : {}), ...(local.values ? { local: local.values } : {}) },
    ...(Object.keys(aucError).length > 0 ? { auc_error: aucError } : {}),
    ...end,
  };
}

/**
 * The train args that make each node report its loss of the global model before training (q-FedAvg's
 * Fₖ): validation on the global model, with "loss" beside the experiment's metrics (or the defaults).
 */
function withGlobalLoss(metrics: string[], plan: Plan): { testOnGlobal: true; metrics: string[] } {
  const named = metrics.length > 0 ? metrics : defaultMetrics(taskKind(plan));
  return { testOnGlobal: true, metrics: named.includes("loss") ? named : [...named, "loss"] };
}
