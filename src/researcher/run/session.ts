import { formatDuration } from "../../common/log.js";
import { trainedTensors } from "../../ml/frozen.js";
import { planId, planJson } from "../../ml/plan.js";
import { DEFAULT_MAX_PARAMS } from "../../ml/plan-size.js";
import type { NamedTensor } from "../../ml/types.js";
import type { FeedbackEnvelope } from "../../wire/index.js";
import { type Aggregator, createAggregator } from "../aggregators/index.js";
import type { Participant } from "../server/discover.js";
import { createHub, type Hub, type HubEvents } from "../server/hub.js";
import { createKeyBindings } from "../server/key-bindings.js";
import { type ResearcherTls, startServer } from "../server/server.js";
import { createTrace } from "../server/trace.js";
import { awaitPlanApproval } from "./approval.js";
import { type BreakpointOverrides, readBreakpoint, restoreHistory } from "./breakpoint.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent } from "./events.js";
import { gatherNormalization } from "./normalization.js";
import { initialParams } from "./plan-init.js";
import { checkPlanSize, smallestInput } from "./plan-limit.js";
import { gatherPreparation } from "./preparation.js";
import { createRoster } from "./roster.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import { openRunFolder } from "./run-folder.js";
import { commonInput } from "./sample-shape.js";

/**
 * A run's set-up, everything before round 1 (or the resumed round): the run folder, the server and
 * roster, nodes found, the plan approved, the inputs agreed (preparation, normalization), the first
 * model. The facade (experiment.ts) holds the session this returns; finish.ts ends it.
 */

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

/** A started run: what the rounds and the finish work on. */
export interface Session {
  run: RunContext;
  close: () => Promise<void>;
  inputs: RunInputs;
  training: TrainingState;
  aggregator: Aggregator;
  /** Settings changed between rounds in the run that was resumed. */
  saved?: BreakpointOverrides;
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
export async function openSession(
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
    onBind: (_id, _fp, all) => void folder.writeNodeKeys(all),
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
    await folder.close();
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
export function firstState(config: Experiment, sampleShape: number[]): TrainingState {
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
    trained: trainedTensors(config.plan, global),
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
