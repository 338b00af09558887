import type { LayersModel } from "@tensorflow/tfjs";
import { createChannel } from "../../common/channel.js";
import { selectBackend } from "../../ml/backend.js";
import { saveModel } from "../../ml/export.js";
import { buildModel, setParams } from "../../ml/model.js";
import type { NamedTensor } from "../../ml/types.js";
import { createAggregator } from "../aggregators/index.js";
import { type BreakpointOverrides, writeBreakpoint } from "./breakpoint.js";
import { changedAggregator, changedTraining, type Experiment } from "./config.js";
import type { DoneEvent, ExperimentEvent, RoundEvent } from "./events.js";
import { federatedRound } from "./federated-round.js";
import { finishRun } from "./finish.js";
import { type ExperimentOptions, openSession, preflight, type Session } from "./session.js";

export type { ExperimentOptions };
export { preflight };

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

/**
 * The tfjs backend the researcher picks (unless `FBM_BACKEND` says otherwise, or the caller selected one
 * first): pure-JS cpu. The researcher trains nothing; tfjs only builds round 0's seeded weights, reads a
 * `plan.init` model and writes the exported one, and the seeded initializers draw their numbers in JS
 * on every backend, so the weights are the same bits. The wasm backend would keep its 16 MiB wasm
 * memory (grown to hold the largest model it built, never given back) and 5–6 MiB of buffers for the
 * whole run: at 1M parameters the cpu backend left 13–16 MiB less rss (20 MiB less external memory)
 * after round 0's weights (README "Scale", Memory).
 */
export const RESEARCHER_BACKEND = "cpu";

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
    // The tfjs backend as the CLI picks it (prod mode: no "install tfjs-node" banner in a user's notebook),
    // unless the user called selectBackend first.
    starting ??= selectBackend({ prefer: RESEARCHER_BACKEND })
      .then(() => openSession(current, options, emit))
      .then((opened) => {
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
