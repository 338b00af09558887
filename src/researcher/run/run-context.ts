import type { TablePreparation } from "../../ml/table-prep.js";
import type { NamedTensor, Normalization } from "../../ml/types.js";
import type { BufferPool } from "../../wire/index.js";
import type { AggregatorState } from "../aggregators/index.js";
import type { RunningMean } from "../aggregators/running-mean.js";
import type { Hub } from "../server/hub.js";
import type { Experiment } from "./config.js";
import type { ExperimentEvent } from "./events.js";
import type { Roster } from "./roster.js";
import type { RunFolder } from "./run-folder.js";

/** What every step of one experiment run shares. */
export interface RunContext {
  config: Experiment;
  hub: Hub;
  roster: Roster;
  folder: RunFolder;
  plan: { id: string; json: string };
  emit: (event: ExperimentEvent) => void;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** The round being trained (0 before round 1), for progress events. */
  round: number;
  /** Node id → identity fingerprint its signed requests proved (server/key-bindings.ts); secagg checks keys against it. */
  identities?: () => Record<string, string>;
  /** Where folded replies keep their bytes until they count (reply-fold.ts), reused from round to round; made by the first round. */
  takeBack?: BufferPool;
  /** The folded rounds' running mean, reset and reused from round to round (running-mean.ts, `reuseRunningMean`). */
  running?: RunningMean;
}

/** What every node's data goes through, fixed once the first nodes are known. */
export interface RunInputs {
  sampleShape: number[];
  features?: string[];
  normalization?: Normalization;
  /** The resolved table preparation (csv plans that declare one); `features` are then its inputs. */
  preparation?: TablePreparation;
}

/** Where training stands after a complete round (round 0: the initial parameters). */
export interface TrainingState {
  round: number;
  global: NamedTensor[];
  aggregatorState: AggregatorState;
  /** The round events so far: history.jsonl. */
  history: unknown[];
}
