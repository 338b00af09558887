import { RuntimeFailure } from "../../common/errors.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { Normalization } from "../../ml/types.js";
import type { AggregatorConfig, AggregatorState } from "../aggregators/index.js";
import type { Experiment } from "./config.js";
import { decodeParams, encodeParams } from "./params-json.js";
import type { RunInputs, TrainingState } from "./run-context.js";
import type { RunFolder } from "./run-folder.js";
import { tensorboardFiles } from "./tensorboard.js";

/** state.json: everything needed to continue as if never stopped. */
interface Breakpoint {
  version: 1;
  planId: string;
  round: number;
  params: ReturnType<typeof encodeParams>;
  aggregatorState: AggregatorState;
  normalization?: Normalization;
  preparation?: TablePreparation;
  sampleShape: number[];
  features?: string[];
  history: unknown[];
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
      history: saved.history,
    },
    ...(saved.overrides && Object.keys(saved.overrides).length > 0 ? { overrides: saved.overrides } : {}),
  };
}

/**
 * Saves history.jsonl, the TensorBoard logs and state.json after a complete round. Each file is replaced
 * atomically on its own (fsync'd), so they are written at once: a round pays for one fsync's latency, not three.
 */
export async function writeBreakpoint(
  folder: RunFolder,
  planId: string,
  inputs: RunInputs,
  training: TrainingState,
  overrides: BreakpointOverrides = {},
): Promise<void> {
  await Promise.all([
    folder.writeHistory(training.history),
    folder.writeFiles(tensorboardFiles(training.history)),
    folder.writeState({
      version: 1,
      planId,
      round: training.round,
      params: encodeParams(training.global),
      aggregatorState: training.aggregatorState,
      normalization: inputs.normalization,
      preparation: inputs.preparation,
      sampleShape: inputs.sampleShape,
      features: inputs.features,
      history: training.history,
      ...(Object.keys(overrides).length > 0 ? { overrides } : {}),
    } satisfies Breakpoint),
  ]);
}
