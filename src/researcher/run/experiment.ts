import { createChannel } from "../../common/channel.js";
import { RuntimeFailure } from "../../common/errors.js";
import { buildModel, getParams } from "../../ml/model.js";
import { combineStats } from "../../ml/normalize.js";
import { planId, planJson } from "../../ml/plan.js";
import type { ColumnStats, NamedTensor, Normalization, TrainingArgs } from "../../ml/types.js";
import { createAggregator, type AggregatorState } from "../aggregators/index.js";
import { createRunningMean } from "../aggregators/running-mean.js";
import { awaitPlanApproval } from "./approval.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent, NodeFailure } from "./events.js";
import { createHub, type Hub } from "../server/hub.js";
import { openRunFolder } from "./run-folder.js";
import { createRoster, type Participant } from "./roster.js";
import { commonInput } from "./sample-shape.js";
import { selectNodes, weightedMetrics } from "./selection.js";
import { startServer, type ResearcherTls } from "../server/server.js";
import { runTrainRound, type NodeUpdate } from "./train-round.js";
import { decodeParams, encodeParams } from "./params-json.js";
import { saveModel } from "../../ml/export.js";
import { createTrace } from "../server/trace.js";
import { expectedReply, withControl, type FeedbackEnvelope } from "../../wire/index.js";

export interface ExperimentOptions {
  /** HOST:PORT to serve on (default 127.0.0.1:50051); ignored when `hub` is given. */
  listen?: string;
  /** Serve HTTPS with mutual TLS: certificate, key and node allow-list files (see startServer). */
  tls?: ResearcherTls;
  /** Parent of the run folder (default ./runs). */
  outDir?: string;
  /** Continue from the run folder's last complete round. */
  resume?: boolean;
  /** Append every message received from nodes to this file as JSON lines (parameters as shapes only). */
  traceFile?: string;
  /** Serve through this hub instead of starting a server (tests, embedding). */
  hub?: Hub;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** What a breakpoint holds: everything needed to continue as if never stopped. */
interface Breakpoint {
  version: 1;
  planId: string;
  round: number;
  params: ReturnType<typeof encodeParams>;
  aggregatorState: AggregatorState;
  normalization?: Normalization;
  sampleShape: number[];
  features?: string[];
  history: unknown[];
}

/**
 * An experiment as library code: `run()` yields the events the CLI prints. Serves, waits for nodes
 * holding datasets with the tags, gathers normalization statistics, trains `rounds` rounds, exports.
 */
export function createExperiment(config: Experiment, options: ExperimentOptions = {}) {
  return {
    run(): AsyncIterable<ExperimentEvent> {
      const channel = createChannel<ExperimentEvent>();
      runExperiment(config, options, (e) => channel.push(e)).then(() => channel.close(), (error) => channel.fail(error));
      return channel;
    },
  };
}

async function runExperiment(config: Experiment, options: ExperimentOptions, emit: (e: ExperimentEvent) => void): Promise<void> {
  const log = options.log ?? (() => {});
  const folder = await openRunFolder(options.outDir ?? "runs", config.name, { resume: options.resume ?? false });
  const hub = options.hub ?? createHub();
  const server = options.hub ? undefined : await startServer({
    listen: options.listen ?? "127.0.0.1:50051", hub, log, tls: options.tls,
    onReceived: options.traceFile ? createTrace(options.traceFile) : undefined,
  });
  const onNode = ({ state, node }: { state: "connected" | "lost"; node: { nodeId: string; name: string } }) =>
    emit({ event: "node", state, node: node.nodeId, name: node.name });
  hub.on("node", onNode);
  let round = 0;
  const onFeedback = (f: FeedbackEnvelope) => {
    if (f.body.kind !== "progress") return;
    const b = f.body;
    const name = hub.nodes().find((n) => n.nodeId === f.nodeId)?.name ?? f.nodeId;
    emit({ event: "progress", round, node: f.nodeId, name, epoch: b.epoch, step: b.step, total_steps: b.totalSteps, loss: b.loss });
  };
  hub.on("feedback", onFeedback);
  const roster = createRoster(hub, { tags: config.tags, experiment: config.name, log });
  try {
    if (server) emit({ event: "listening", url: server.url });
    const plan = config.plan;
    const id = planId(plan);
    const json = planJson(plan);
    const aggregator = createAggregator(config.aggregator);
    const saved = options.resume ? await folder.readState<Breakpoint>() : undefined;
    if (options.resume && !saved) log(`Nothing to resume in ${folder.dir}: starting from round 1`);
    if (saved && saved.planId !== id) {
      throw new RuntimeFailure(`Cannot resume ${folder.dir}: it was trained with another plan (${saved.planId.slice(0, 12)}), this experiment's plan is ${id.slice(0, 12)}`);
    }

    const first = await roster.waitFor(config.nodes.min, { waitMs: config.nodes.waitMs, signal: options.signal });
    emit({ event: "datasets", nodes: first.map((p) => ({ node: p.node, name: p.name, dataset: p.dataset.id, samples: p.dataset.sampleCount })) });
    const input = saved ? { sampleShape: saved.sampleShape, features: saved.features } : commonInput(plan, first);
    let global: NamedTensor[] = saved ? decodeParams(saved.params) : initialParams(config, input.sampleShape);
    // Nodes train only plans their operators approved: learn that now, not from a failed round 1.
    await awaitPlanApproval({
      hub, experiment: config.name, participants: first, planId: id, planJson: json, global,
      args: { ...config.training, fedproxMu: 0 }, waitMs: config.nodes.waitMs, timeoutMs: config.nodes.roundTimeoutMs,
      signal: options.signal,
      onRefusal: (f) => emit({ event: "error", node: f.node, code: f.code, plan: id, message: `${f.name}: ${f.message}` }),
    });
    const normalization = saved ? saved.normalization : await gatherNormalization(hub, config, first, json);
    if (normalization && !saved) emit({ event: "normalization", method: normalization.method, columns: normalization.columns });

    let state: AggregatorState = saved?.aggregatorState ?? {};
    const history: unknown[] = saved?.history ?? [];
    const args: TrainingArgs = { ...config.training, fedproxMu: 0 };

    for (round = (saved?.round ?? 0) + 1; round <= config.rounds; round++) {
      options.signal?.throwIfAborted();
      const started = performance.now();
      const eligible = roster.participants();
      if (eligible.length < config.nodes.min) {
        await roster.waitFor(config.nodes.min, { waitMs: config.nodes.waitMs, signal: options.signal });
      }
      const chosen = selectNodes(roster.participants(), { sample: config.nodes.sample, min: config.nodes.min, seed: config.training.seed, round });
      const nodeArgs = aggregator.nodeArgs({ global: global.map((t) => t.data as Float32Array), state });
      const scaffold = nodeArgs.scaffoldControl !== undefined;
      const running = aggregator.foldable && !scaffold ? createRunningMean(global.map((t) => t.data.length)) : undefined;
      const { updates, failures } = await runTrainRound({
        fold: running && ((u) => running.add(u.result.params.map((p) => p.data as Float32Array), u.result.sampleCount)),
        hub, experiment: config.name, participants: chosen, round, planId: id, planJson: json,
        args: { ...args, fedproxMu: nodeArgs.fedproxMu ?? 0 }, normalization,
        global: withControl(global, nodeArgs.scaffoldControl), expected: expectedReply(global, scaffold),
        timeoutMs: config.nodes.roundTimeoutMs, signal: options.signal,
      });
      for (const f of failures) emit({ event: "error", round, node: f.node, message: `${f.name}: ${f.message}` });
      checkRound(config, round, updates, failures);
      const out = aggregator.aggregate({
        round,
        global: global.map((t) => t.data as Float32Array),
        updates: running ? [running.result()] : updates.map((u) => {
          const tensors = u.result.params.map((p) => p.data as Float32Array);
          return {
            nodeId: u.participant.node, samples: u.result.sampleCount, params: tensors.slice(0, global.length),
            ...(scaffold ? { controlDelta: tensors.slice(global.length) } : {}),
          };
        }),
        state,
        totalNodes: roster.participants().length,
      });
      global = global.map((t, i) => ({ ...t, data: out.params[i] }));
      state = out.state;
      const event = roundEvent(config, round, updates, failures, performance.now() - started);
      history.push(event);
      // The breakpoint is on disk before anyone hears of the round: a kill after the event loses nothing.
      await folder.writeHistory(history);
      await folder.writeState({
        version: 1, planId: id, round, params: encodeParams(global), aggregatorState: state,
        normalization, sampleShape: input.sampleShape, features: input.features, history,
      } satisfies Breakpoint);
      emit(event);
    }

    const final = await finalValidation(hub, config, roster.participants(), { id, json, args, normalization, global }, options.signal);
    await saveModel(folder.modelDir, { plan, params: global, sampleShape: input.sampleShape, normalization, features: input.features });
    emit({ event: "done", rounds: config.rounds, metrics: final ?? {}, model: folder.modelDir, run: folder.dir });
  } finally {
    roster.close();
    hub.off("node", onNode);
    hub.off("feedback", onFeedback);
    await server?.close();
  }
}

function initialParams(config: Experiment, sampleShape: number[]): NamedTensor[] {
  const model = buildModel(config.plan, sampleShape, { seed: config.training.seed });
  try {
    return getParams(model);
  } finally {
    model.dispose();
  }
}

/** Federated count/sum/sum of squares/min/max per column, combined into one global scaling. */
async function gatherNormalization(hub: Hub, config: Experiment, participants: Participant[], json: string): Promise<Normalization | undefined> {
  const method = config.plan.data.normalize;
  if (method === "none") return undefined;
  const perNode: ColumnStats[][] = await Promise.all(participants.map(async (p) => {
    const reply = await hub.send(p.node, { kind: "stats", datasetId: p.dataset.id, planJson: json }, { timeoutMs: config.nodes.roundTimeoutMs, experiment: config.name });
    if (reply.kind === "error") throw new RuntimeFailure(`Node ${p.name} could not compute statistics: ${reply.message}`);
    if (reply.kind !== "stats") throw new RuntimeFailure(`Node ${p.name} answered a stats task with a ${reply.kind} reply`);
    return reply.columns;
  }));
  return combineStats(perNode, method);
}

function checkRound(config: Experiment, round: number, updates: NodeUpdate[], failures: NodeFailure[]): void {
  if (failures.length === 0) return;
  const detail = failures.map((f) => `${f.name}: ${f.message}`).join("; ");
  if (config.nodes.onFailure === "stop") {
    throw new RuntimeFailure(`Round ${round} failed on ${failures.length} node(s): ${detail}`);
  }
  if (updates.length < config.nodes.min) {
    throw new RuntimeFailure(`Round ${round} has ${updates.length} update(s), fewer than nodes.min ${config.nodes.min}: ${detail}`);
  }
}

function roundEvent(config: Experiment, round: number, updates: NodeUpdate[], failures: NodeFailure[], ms: number): ExperimentEvent {
  const samples = updates.reduce((s, u) => s + u.result.sampleCount, 0);
  const loss = updates.reduce((s, u) => s + u.result.trainLoss * u.result.sampleCount, 0) / samples;
  const global = weightedMetrics(updates.map((u) => ({ values: u.result.globalMetrics?.values, samples: u.result.globalMetrics?.samples ?? 0 })));
  const local = weightedMetrics(updates.map((u) => ({ values: u.result.localMetrics?.values, samples: u.result.localMetrics?.samples ?? 0 })));
  return {
    event: "round",
    round,
    rounds: config.rounds,
    nodes: updates.map((u) => ({
      node: u.participant.node, name: u.participant.name, samples: u.result.sampleCount, loss: u.result.trainLoss,
      seconds: u.result.seconds, global: u.result.globalMetrics?.values, local: u.result.localMetrics?.values,
    })),
    failed: failures,
    loss,
    metrics: { ...(global ? { global } : {}), ...(local ? { local } : {}) },
    seconds: ms / 1000,
  };
}

/** The exported model's metrics on every node's test split (an evaluate-only train task). */
async function finalValidation(
  hub: Hub, config: Experiment, participants: Participant[],
  p: { id: string; json: string; args: TrainingArgs; normalization?: Normalization; global: NamedTensor[] },
  signal?: AbortSignal,
): Promise<Record<string, number> | undefined> {
  if (config.training.testRatio <= 0 || participants.length === 0) return undefined;
  const { updates } = await runTrainRound({
    hub, experiment: config.name, participants, round: config.rounds + 1, planId: p.id, planJson: p.json,
    args: { ...p.args, epochs: 0, updates: 0, testOnGlobal: true, testOnLocal: false }, normalization: p.normalization,
    global: p.global, timeoutMs: config.nodes.roundTimeoutMs, signal,
  });
  return weightedMetrics(updates.map((u) => ({ values: u.result.globalMetrics?.values, samples: u.result.globalMetrics?.samples ?? 0 })));
}
