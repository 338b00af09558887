import { RuntimeFailure } from "../../common/errors.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { Normalization } from "../../ml/types.js";
import type { AggregatorConfig, AggregatorState } from "../aggregators/index.js";
import type { Experiment } from "./config.js";
import { decodeParams, type encodeParams, jsonWithParams } from "./params-json.js";
import type { RunInputs, TrainingState } from "./run-context.js";
import { jsonPieces, type RunFolder } from "./run-folder.js";
import { tensorboardAppends, tensorboardFiles } from "./tensorboard.js";

/**
 * state.json: everything needed to continue as if never stopped. Version 2 counts the lines of
 * history.jsonl it stands for (`historyLines`); version 1 (older runs) held the history itself.
 */
interface Breakpoint {
  version: 1 | 2;
  planId: string;
  round: number;
  params: ReturnType<typeof encodeParams>;
  aggregatorState: AggregatorState;
  normalization?: Normalization;
  preparation?: TablePreparation;
  sampleShape: number[];
  features?: string[];
  history?: unknown[];
  historyLines?: number;
  /** Settings changed between rounds through the library (FederatedExperiment.setTraining/setAggregator). */
  overrides?: BreakpointOverrides;
}

/** What a resumed run takes from the breakpoint over the experiment file. */
export interface BreakpointOverrides {
  training?: Experiment["training"];
  aggregator?: AggregatorConfig;
}

/** The run folder's breakpoint, if any; throws RuntimeFailure when it was saved for another plan. */
export async function readBreakpoint(
  folder: RunFolder,
  planId: string,
): Promise<{ inputs: RunInputs; training: TrainingState; overrides?: BreakpointOverrides } | undefined> {
  const saved = await folder.readState<Breakpoint>();
  if (!saved) return undefined;
  if (saved.planId !== planId) {
    throw new RuntimeFailure(
      `Cannot resume ${folder.dir}: it was trained with another plan (${saved.planId.slice(0, 12)}), this experiment's plan is ${planId.slice(0, 12)}`,
    );
  }
  const history = saved.history ?? (await journaled(folder, saved.historyLines ?? 0));
  return {
    inputs: {
      sampleShape: saved.sampleShape,
      features: saved.features,
      normalization: saved.normalization,
      preparation: saved.preparation,
    },
    training: {
      round: saved.round,
      global: decodeParams(saved.params),
      aggregatorState: saved.aggregatorState,
      history,
    },
    ...(saved.overrides && Object.keys(saved.overrides).length > 0 ? { overrides: saved.overrides } : {}),
  };
}

/** The first `lines` rounds of history.jsonl, which the breakpoint says were written before it. */
async function journaled(folder: RunFolder, lines: number): Promise<unknown[]> {
  const history = await folder.readHistory();
  if (history.length < lines) {
    throw new RuntimeFailure(
      `Cannot resume ${folder.dir}: state.json stands for ${lines} round(s) of history.jsonl, which holds ${history.length}`,
    );
  }
  // A round appended after the breakpoint (the run stopped before saving it) is not part of the run.
  return history.slice(0, lines);
}

/**
 * Saves a complete round: the new rounds are appended to history.jsonl (fsync'd; the journal) and
 * state.json, which counts them, is replaced atomically once they are durable; the TensorBoard files
 * get the new rounds appended. A round costs its own lines and one breakpoint, not the whole history again; a crash
 * between the two leaves a history line that `--resume` drops (see `restoreHistory`).
 */
export async function writeBreakpoint(
  folder: RunFolder,
  planId: string,
  inputs: RunInputs,
  training: TrainingState,
  overrides: BreakpointOverrides = {},
): Promise<void> {
  // The journal first: state.json is written meanwhile but renamed into place only once the new
  // history lines are durable, so it never counts lines that are not there.
  const journaled = folder.appendHistory(training.history);
  // Every write settles before this returns (a failed journal leaves no temp state file behind).
  const settled = await Promise.allSettled([
    journaled.then((added) =>
      added > 0 ? folder.appendFiles(tensorboardAppends(training.history, added)) : undefined,
    ),
    folder.writeState(
      // The parameters' base64 is made piece by piece as the file is written (jsonWithParams).
      jsonPieces(
        jsonWithParams(training.global, {
          version: 2,
          planId,
          round: training.round,
          aggregatorState: training.aggregatorState,
          normalization: inputs.normalization,
          preparation: inputs.preparation,
          sampleShape: inputs.sampleShape,
          features: inputs.features,
          historyLines: training.history.length,
          ...(Object.keys(overrides).length > 0 ? { overrides } : {}),
        } satisfies Omit<Breakpoint, "params">),
      ),
      { after: journaled },
    ),
  ]);
  for (const result of settled) if (result.status === "rejected") throw result.reason;
}

/**
 * Before a resumed run goes on: history.jsonl holds exactly the breakpoint's rounds (a line appended
 * after it, or torn by a crash, goes) and the TensorBoard files are rebuilt from them.
 */
export async function restoreHistory(folder: RunFolder, history: unknown[]): Promise<void> {
  await folder.writeHistory(history);
  await folder.writeFiles(tensorboardFiles(history));
}
