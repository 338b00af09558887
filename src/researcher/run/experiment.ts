import type { LayersModel } from "@tensorflow/tfjs";
import { createChannel } from "../../common/channel.js";
import { formatDuration } from "../../common/log.js";
import { saveModel } from "../../ml/export.js";
import { taskKind } from "../../ml/metrics.js";
import { buildModel, setParams } from "../../ml/model.js";
import { planId, planJson } from "../../ml/plan.js";
import { DEFAULT_MAX_PARAMS } from "../../ml/plan-size.js";
import type { NamedTensor } from "../../ml/types.js";
import type { FeedbackEnvelope } from "../../wire/index.js";
import { type Aggregator, createAggregator } from "../aggregators/index.js";
import { createHub, type Hub, type HubEvents } from "../server/hub.js";
import { createKeyBindings } from "../server/key-bindings.js";
import { type ResearcherTls, startServer } from "../server/server.js";
import { createTrace } from "../server/trace.js";
import { awaitPlanApproval } from "./approval.js";
import { type BreakpointOverrides, readBreakpoint, restoreHistory, writeBreakpoint } from "./breakpoint.js";
import { changedAggregator, changedTraining, type Experiment } from "./config.js";
import type { DoneEvent, ExperimentEvent, NodeFailure, RoundEvent } from "./events.js";
import { federatedRound } from "./federated-round.js";
import { gatherNormalization } from "./normalization.js";
import { initialParams } from "./plan-init.js";
import { checkPlanSize, smallestInput } from "./plan-limit.js";
import { pooledMetrics } from "./pooled-metrics.js";
import { gatherPreparation } from "./preparation.js";
import { createRoster, type Participant } from "./roster.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import { openRunFolder } from "./run-folder.js";
import { commonInput } from "./sample-shape.js";
import { runTrainRound } from "./train-round.js";

export interface ExperimentOptions {
  /** HOST:PORT to serve on (default 127.0.0.1:50051); ignored when `hub` is given. */
  listen?: string;
  /** Serve HTTPS with mutual TLS: certificate, key and node allow-list files (see startServer). */
  tls?: ResearcherTls;
  /** Parent of the run folder (default ./runs). */
  outDir?: string;
  /** Continue from the run folder's last complete round. */
  resume?: boolean;
  /** Replace the run folder's earlier run (see RunFolderOptions.overwrite). */
  overwrite?: boolean;
  /** Append every message received from nodes to this file as JSON lines (parameters as shapes only). */
  traceFile?: string;
  /** Serve cleartext beyond loopback (`--insecure`). */
  insecure?: boolean;
  /** Cleartext: the allow-list the nodes' signing keys must be on (with TLS it is part of `tls`). */
  allowList?: string;
  /** Largest model (parameters) this researcher builds (default DEFAULT_MAX_PARAMS, as nodes). */
  maxParams?: number;
  /** Serve through this hub instead of starting a server (tests, embedding). */
  hub?: Hub;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Hears every event as it happens (node connections, progress, rounds), also when stepping round by round. */
  onEvent?: (event: ExperimentEvent) => void;
}

/**
 * An experiment as library code, after Fed-BioMed's `Experiment`: `run()` yields the events the CLI
 * prints; or step through it — `runRound()` one round at a time, look at `history` and `params()`,
 * change `setTraining()`/`setAggregator()` between rounds, `finish()` to validate and export, `close()`.
 * Every round's breakpoint is saved in the run folder; `resume: true` continues from it.
 */
export interface FederatedExperiment {
  /** Every remaining round up to `rounds`, then `finish()`; serves until the last event, then closes. */
  run(): AsyncIterable<ExperimentEvent>;
  /** Serves, waits for `nodes.min` nodes, has the plan approved, gathers normalization; once (runRound calls it). */
  start(): Promise<void>;
  /** Trains one more round (even past `rounds`) and saves its breakpoint before returning its event. */
  runRound(): Promise<RoundEvent>;
  /** Validates the current model on every node's test split, exports it to the run folder, says `done`. */
  finish(): Promise<DoneEvent>;
  /** Stops serving. The run folder keeps the last complete round. */
  close(): Promise<void>;
  /** Complete rounds so far. */
  readonly round: number;
  /** The event of every complete round (history.jsonl). */
  readonly history: RoundEvent[];
  /** A copy of the current global parameters (after the last complete round; round 0: the initial model). */
  params(): NamedTensor[];
  /** The current global model as a TensorFlow.js model (the caller disposes it); inputs as the nodes prepare them. */
  model(): LayersModel;
  /** The experiment as it stands, with any changes made between rounds. */
  readonly config: Experiment;
  /** Changes training settings from the next round on; keys as in experiment.yaml's `training:` (snake_case). */
  setTraining(changes: Record<string, unknown>): void;
  /** Replaces the aggregator from the next round on, as experiment.yaml's `aggregator:`; another name starts afresh. */
  setAggregator(settings: Record<string, unknown>): void;
  /** Writes the breakpoint now (every round saves its own), e.g. to keep settings changed since. */
  save(): Promise<void>;
  /** Exports the current model (TensorFlow.js, safetensors, plan) to `dir` (default: the run folder's model/). */
  exportModel(dir?: string): Promise<string>;
}

interface Session {
  run: RunContext;
  close: () => Promise<void>;
  inputs: RunInputs;
  training: TrainingState;
  aggregator: Aggregator;
  /** Settings changed between rounds in the run that was resumed. */
  saved?: BreakpointOverrides;
}

export function createExperiment(config: Experiment, options: ExperimentOptions = {}): FederatedExperiment {
  let current = config;
  let changed: BreakpointOverrides = {};
  let session: Session | undefined;
  let starting: Promise<Session> | undefined;
  let busy = false;
  const listeners = new Set<(event: ExperimentEvent) => void>();
  if (options.onEvent) listeners.add(options.onEvent);
  const emit = (event: ExperimentEvent) => {
    for (const listener of listeners) listener(event);
  };
  const started = () => {
    if (!session) throw new Error("The experiment has not started: call start() or runRound() first");
    return session;
  };
  /** One step at a time: a second call while one runs would train the same round twice. */
  const exclusive = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    if (busy) throw new Error(`Cannot ${what} while another step of the experiment runs: await it first`);
    busy = true;
    try {
      return await step();
    } finally {
      busy = false;
    }
  };
  const start = () => {
    starting ??= openSession(current, options, emit).then((opened) => {
      session = opened;
      // Settings changed before the stop still hold after it; changes made since, before start(), win.
      changed = { ...opened.saved, ...changed };
      current = { ...current, ...changed };
      opened.run.config = current;
      if (changed.aggregator) opened.aggregator = createAggregator(current.aggregator);
      return opened;
    });
    // A start that failed (no nodes yet, say) is tried afresh by the next call.
    starting.catch(() => {
      if (!session) starting = undefined;
    });
    return starting;
  };
  const saveNow = (s: Session) => writeBreakpoint(s.run.folder, s.run.plan.id, s.inputs, s.training, changed);
  const runRound = () =>
    exclusive("run a round", async () => {
      const s = await start();
      s.run.round = s.training.round + 1;
      const { training: next, event } = await federatedRound(s.run, s.aggregator, s.inputs, s.training);
      s.training = next;
      // The breakpoint is on disk before anyone hears of the round: a kill after the event loses nothing.
      await saveNow(s);
      await s.run.folder.writeJson("experiment.json", s.run.config);
      emit(event);
      return event as RoundEvent;
    });
  const finish = () =>
    exclusive("finish", async () => {
      const s = await start();
      return finishRun(s.run, s.inputs, s.training);
    });
  const close = async () => {
    const s = session ?? (await starting?.catch(() => undefined));
    await s?.close();
  };
  const update = (next: Experiment, aggregatorChanged: boolean) => {
    const renamed = next.aggregator.name !== current.aggregator.name;
    current = next;
    if (!session) return;
    session.run.config = next;
    if (!aggregatorChanged) return;
    session.aggregator = createAggregator(next.aggregator);
    // Server momentum or moments of another aggregator mean nothing to this one.
    if (renamed) session.training = { ...session.training, aggregatorState: {} };
  };
  return {
    run() {
      const channel = createChannel<ExperimentEvent>();
      const push = (event: ExperimentEvent) => channel.push(event);
      listeners.add(push);
      (async () => {
        try {
          const s = await start();
          while (s.training.round < current.rounds) await runRound();
          await finish();
        } finally {
          listeners.delete(push);
          await close();
        }
      })().then(
        () => channel.close(),
        (error) => channel.fail(error),
      );
      return channel;
    },
    async start() {
      await start();
    },
    runRound,
    finish,
    close,
    get round() {
      return session?.training.round ?? 0;
    },
    get history() {
      return (session?.training.history ?? []) as RoundEvent[];
    },
    get config() {
      return current;
    },
    params: () => started().training.global.map((t) => ({ ...t, shape: [...t.shape], data: t.data.slice() })),
    model() {
      const s = started();
      const model = buildModel(current.plan, s.inputs.sampleShape, { seed: 0 });
      setParams(model, s.training.global);
      return model;
    },
    setTraining(settings) {
      const training = changedTraining(current, settings);
      changed = { ...changed, training };
      update({ ...current, training }, false);
    },
    setAggregator(settings) {
      const aggregator = changedAggregator(current, settings);
      changed = { ...changed, aggregator };
      update({ ...current, aggregator }, true);
    },
    save: () => exclusive("save", () => saveNow(started())),
    async exportModel(dir) {
      const s = started();
      const out = dir ?? s.run.folder.modelDir;
      await saveModel(out, { plan: current.plan, params: s.training.global, ...s.inputs });
      return out;
    },
  };
}

/**
 * What can be refused before serving anyone: a plan too big on any input, a run folder that cannot be
 * written or already holds a run. `run()` does it too; a CLI calls it first to fail before loading more.
 */
export async function preflight(
  config: Experiment,
  options: Pick<ExperimentOptions, "maxParams" | "outDir" | "resume" | "overwrite" | "log">,
): Promise<void> {
  const smallest = smallestInput(config.plan);
  if (smallest) checkPlanSize(config.plan, smallest, options.maxParams ?? DEFAULT_MAX_PARAMS);
  await openRunFolder(options.outDir ?? "runs", config.name, runFolderOptions(options));
}

function runFolderOptions(options: Pick<ExperimentOptions, "resume" | "overwrite" | "log">) {
  return { resume: options.resume ?? false, overwrite: options.overwrite ?? false, warn: options.log };
}

/** Everything before round 1 (or before the resumed round): see FederatedExperiment.start(). */
async function openSession(
  config: Experiment,
  options: ExperimentOptions,
  emit: (e: ExperimentEvent) => void,
): Promise<Session> {
  const maxParams = options.maxParams ?? DEFAULT_MAX_PARAMS;
  await preflight(config, options);
  const { run, close } = await startRun(config, options, emit);
  try {
    const saved = await resumePoint(run, options.resume === true);
    const nodes = await waitForNodes(run);
    const input = saved?.inputs ?? commonInput(config.plan, nodes);
    checkPlanSize(config.plan, input.sampleShape, maxParams);
    let training = saved?.training ?? firstState(config, input.sampleShape);
    // Nodes train only plans their operators approved: learn that now, not from a failed round 1.
    await approvePlan(run, nodes, training.global);
    let inputs: RunInputs;
    if (saved) inputs = saved.inputs;
    else {
      const prepared = await gatherPreparation(run, nodes, input);
      if (prepared !== input) {
        // One-hot categories widen the input: the model is built for the prepared inputs.
        checkPlanSize(config.plan, prepared.sampleShape, maxParams);
        training = firstState(config, prepared.sampleShape);
      }
      inputs = { ...prepared, normalization: await gatherNormalization(run, nodes, prepared.preparation) };
    }
    return { run, close, inputs, training, aggregator: createAggregator(config.aggregator), saved: saved?.overrides };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Opens the run folder, serves (or uses the given hub), relays node and progress events, starts the roster. */
async function startRun(config: Experiment, options: ExperimentOptions, emit: (e: ExperimentEvent) => void) {
  const log = options.log ?? (() => {});
  const folder = await openRunFolder(options.outDir ?? "runs", config.name, runFolderOptions(options));
  const hub = options.hub ?? createHub({ log });
  // Node ids are bound to keys for the life of the run, across --resume: recorded in the run folder.
  const keyBindings = createKeyBindings({
    initial: await folder.readNodeKeys(),
    onBind: (_id, _fp, all) => folder.writeNodeKeys(all),
    log,
    ...(options.allowList || options.tls ? {} : { firstUse: { runDir: folder.dir } }),
  });
  const server = options.hub
    ? undefined
    : await startServer({
        listen: options.listen ?? "127.0.0.1:50051",
        hub,
        log,
        tls: options.tls,
        insecure: options.insecure,
        allowList: options.allowList,
        keyBindings,
        onReceived: options.traceFile ? createTrace(options.traceFile, { warn: log }) : undefined,
      });
  const onNode = ({ state, node }: HubEvents["node"][0]) =>
    emit({ event: "node", state, node: node.nodeId, name: node.name });
  hub.on("node", onNode);
  const roster = createRoster(hub, { tags: config.tags, experiment: config.name, log });
  const run: RunContext = {
    config,
    hub,
    roster,
    folder,
    emit,
    log,
    signal: options.signal,
    round: 0,
    plan: { id: planId(config.plan), json: planJson(config.plan) },
    identities: () => keyBindings.entries(),
  };
  const onFeedback = (f: FeedbackEnvelope) => {
    if (f.body.kind !== "progress") return;
    const b = f.body;
    const name = hub.node(f.nodeId)?.name ?? f.nodeId;
    emit({
      event: "progress",
      round: run.round,
      node: f.nodeId,
      name,
      epoch: b.epoch,
      step: b.step,
      total_steps: b.totalSteps,
      ...(b.loss === undefined ? {} : { loss: b.loss }),
    });
  };
  hub.on("feedback", onFeedback);
  if (server) emit({ event: "listening", url: server.url });
  const close = async () => {
    roster.close();
    hub.off("node", onNode);
    hub.off("feedback", onFeedback);
    await server?.close();
  };
  return { run, close };
}

/** With --resume, the breakpoint to continue from (none: start from round 1). */
async function resumePoint(run: RunContext, resume: boolean) {
  if (!resume) return undefined;
  const saved = await readBreakpoint(run.folder, run.plan.id);
  if (!saved) run.log(`Nothing to resume in ${run.folder.dir}: starting from round 1`);
  else await restoreHistory(run.folder, saved.training.history);
  return saved;
}

/** The first `nodes.min` participants (and any that arrive with them), announced as a `datasets` event. */
async function waitForNodes(run: RunContext): Promise<Participant[]> {
  const { min, waitMs } = run.config.nodes;
  const nodes = await run.roster.waitFor(min, { waitMs, signal: run.signal });
  run.emit({
    event: "datasets",
    nodes: nodes.map((p) => ({ node: p.node, name: p.name, dataset: p.dataset.id, samples: p.dataset.sampleCount })),
  });
  return nodes;
}

/** Round 0: the plan's model, initialized with the experiment's seed or from `plan.init`'s model. */
function firstState(config: Experiment, sampleShape: number[]): TrainingState {
  return { round: 0, global: initialParams(config, sampleShape), aggregatorState: {}, history: [] };
}

/** How often the researcher's log repeats whom it is waiting for while plans await approval. */
const WAITING_EVERY_MS = 30_000;

async function approvePlan(run: RunContext, nodes: Participant[], global: NamedTensor[]): Promise<void> {
  const { config, plan } = run;
  let said = { who: "", at: 0 };
  await awaitPlanApproval({
    hub: run.hub,
    experiment: config.name,
    participants: nodes,
    planId: plan.id,
    planJson: plan.json,
    global,
    args: { ...config.training, fedproxMu: 0 },
    waitMs: config.nodes.waitMs,
    timeoutMs: config.nodes.roundTimeoutMs,
    signal: run.signal,
    onRefusal: (f) =>
      run.emit({ event: "error", node: f.node, code: f.code, plan: plan.id, message: `${f.name}: ${f.message}` }),
    // Said when the nodes waited for change, else every WAITING_EVERY_MS: not at every 2 s retry.
    onWaiting: (pending, msLeft) => {
      const who = pending.map((f) => `${f.name} (${f.node})`).join(", ");
      if (who === said.who && Date.now() - said.at < WAITING_EVERY_MS) return;
      said = { who, at: Date.now() };
      run.log(
        `Waiting for the operator of ${who} to approve plan ${plan.id.slice(0, 12)}: ${formatDuration(msLeft)} left (nodes.wait)`,
      );
    },
  });
}

/** Validates the final model on every node's test split (an evaluate-only train task), exports it, says `done`. */
async function finishRun(run: RunContext, inputs: RunInputs, training: TrainingState): Promise<DoneEvent> {
  const { config, roster } = run;
  const { global } = training;
  run.round = training.round + 1;
  const participants = roster.participants();
  let metrics: Record<string, number> | undefined;
  let aucError: number | undefined;
  let withheld: NodeFailure[] = [];
  if (config.training.testRatio > 0 && participants.length > 0) {
    const { updates, failures } = await runTrainRound({
      hub: run.hub,
      experiment: config.name,
      participants,
      round: training.round + 1,
      planId: run.plan.id,
      planJson: run.plan.json,
      args: { ...config.training, fedproxMu: 0, epochs: 0, updates: 0, testOnGlobal: true, testOnLocal: false },
      normalization: inputs.normalization,
      preparation: inputs.preparation,
      global,
      timeoutMs: config.nodes.roundTimeoutMs,
      signal: run.signal,
      dropParams: true, // only the metrics matter: no node's model is held
    });
    // A node may refuse to validate (validation_refused on a dataset with a privacy budget): the run
    // still completes, and done says which nodes' metrics are missing and why.
    withheld = failures;
    for (const f of failures) {
      run.emit({ event: "error", node: f.node, code: f.code, message: `${f.name}: final evaluation: ${f.message}` });
    }
    ({ values: metrics, aucError } = pooledMetrics(
      updates.map((u) => u.result.globalMetrics),
      taskKind(config.plan),
    ));
  }
  const { folder } = run;
  await saveModel(folder.modelDir, {
    plan: config.plan,
    params: global,
    sampleShape: inputs.sampleShape,
    normalization: inputs.normalization,
    features: inputs.features,
    preparation: inputs.preparation,
  });
  // The last round's privacy is cumulative over the run (round-privacy.ts).
  const last = training.history.at(-1) as { privacy?: { epsilon: number; delta: number } } | undefined;
  const privacy =
    config.dp && last?.privacy
      ? { mode: config.dp.mode, epsilon: last.privacy.epsilon, delta: last.privacy.delta }
      : undefined;
  const done: DoneEvent = {
    event: "done",
    rounds: training.round,
    metrics: metrics ?? {},
    ...(aucError === undefined ? {} : { auc_error: aucError }),
    ...(withheld.length > 0
      ? { metrics_withheld: withheld.map((f) => ({ node: f.node, name: f.name, code: f.code, message: f.message })) }
      : {}),
    model: folder.modelDir,
    run: folder.dir,
    ...(privacy ? { privacy } : {}),
  };
  await folder.writeJson("done.json", done);
  run.emit(done);
  return done;
}
