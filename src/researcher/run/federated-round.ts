import { RuntimeFailure } from "../../common/errors.js";
import { taskKind } from "../../ml/metrics.js";
import { expectedReply, withControl } from "../../wire/index.js";
import type { Aggregator } from "../aggregators/index.js";
import { createRunningMean } from "../aggregators/running-mean.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent, NodeFailure } from "./events.js";
import { pooledMetrics } from "./pooled-metrics.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import { selectNodes } from "./selection.js";
import { type NodeUpdate, runTrainRound } from "./train-round.js";

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
  const scaffold = nodeArgs.scaffoldControl !== undefined;
  const running = aggregator.foldable && !scaffold ? createRunningMean(global.map((t) => t.data.length)) : undefined;
  const { updates, failures } = await runTrainRound({
    fold:
      running &&
      ((u) =>
        running.add(
          u.result.params.map((p) => p.data as Float32Array),
          u.result.sampleCount,
        )),
    hub: run.hub,
    experiment: config.name,
    participants: chosen,
    round,
    planId: run.plan.id,
    planJson: run.plan.json,
    args: { ...config.training, fedproxMu: nodeArgs.fedproxMu ?? 0 },
    normalization: inputs.normalization,
    preparation: inputs.preparation,
    global: withControl(global, nodeArgs.scaffoldControl),
    expected: expectedReply(global, scaffold),
    timeoutMs: config.nodes.roundTimeoutMs,
    signal,
  });
  for (const f of failures)
    run.emit({ event: "error", round, node: f.node, code: f.code, message: `${f.name}: ${f.message}` });
  checkRound(config, round, updates, failures);
  const out = aggregator.aggregate({
    round,
    global: global.map((t) => t.data as Float32Array),
    updates: running
      ? [running.result()]
      : updates.map((u) => {
          const tensors = u.result.params.map((p) => p.data as Float32Array);
          return {
            nodeId: u.participant.node,
            samples: u.result.sampleCount,
            params: tensors.slice(0, global.length),
            ...(scaffold ? { controlDelta: tensors.slice(global.length) } : {}),
          };
        }),
    state: previous.aggregatorState,
    totalNodes: roster.participants().length,
  });
  const event = roundEvent(config, round, updates, failures, performance.now() - started);
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

/** Stops the run on a failed round (`on_failure: stop`) or when too few updates came back. */
function checkRound(config: Experiment, round: number, updates: NodeUpdate[], failures: NodeFailure[]): void {
  if (failures.length === 0) return;
  const detail = failures.map((f) => `${f.name}: ${f.message}`).join("; ");
  if (config.nodes.onFailure === "stop") {
    throw new RuntimeFailure(`Round ${round} failed on ${failures.length} node(s): ${detail}`);
  }
  if (updates.length < config.nodes.min) {
    throw new RuntimeFailure(
      `Round ${round} has ${updates.length} update(s), fewer than nodes.min ${config.nodes.min}: ${detail}`,
    );
  }
}

function roundEvent(
  config: Experiment,
  round: number,
  updates: NodeUpdate[],
  failures: NodeFailure[],
  ms: number,
): ExperimentEvent {
  const samples = updates.reduce((s, u) => s + u.result.sampleCount, 0);
  const loss = updates.reduce((s, u) => s + u.result.trainLoss * u.result.sampleCount, 0) / samples;
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
      loss: u.result.trainLoss,
      seconds: u.result.seconds,
      global: u.result.globalMetrics?.values,
      local: u.result.localMetrics?.values,
    })),
    failed: failures,
    loss,
    metrics: { ...(global.values ? { global: global.values } : {}), ...(local.values ? { local: local.values } : {}) },
    ...(Object.keys(aucError).length > 0 ? { auc_error: aucError } : {}),
    seconds: ms / 1000,
    time: Date.now() / 1000,
  };
}
