import type { RoundPhases } from "../../ml/types.js";
import type { ReplyErrorCode } from "../../wire/index.js";
import type { TaskFailureReason } from "../server/hub-error.js";
import type { RoundPrivacy } from "./round-privacy.js";

/** The events a run yields; `--json` prints each as one line (README.md, Using it, lists them). */

export interface NodeResult {
  node: string;
  name: string;
  samples: number;
  /** Absent when the node withheld it (under dp), and under secure aggregation (it went only into the masked sum). */
  loss?: number;
  /** The node's whole round (data load to reply), by the node's clock. */
  seconds: number;
  /** The same round by phase, in seconds (absent: an older node). */
  phases?: RoundPhases;
  global?: Record<string, number>;
  local?: Record<string, number>;
  /** Local DP: the ε this experiment has spent on the node's dataset, by the node's ledger. */
  privacy?: { epsilon: number; delta: number };
}

/** Why a node's task failed: the code of the node's error reply, or why the researcher gave up on it. */
export type FailureCode = ReplyErrorCode | TaskFailureReason;

export interface NodeFailure {
  node: string;
  name: string;
  code: FailureCode;
  message: string;
}

export type ExperimentEvent =
  | { event: "listening"; url: string }
  | { event: "node"; state: "connected" | "lost"; node: string; name: string }
  | { event: "datasets"; nodes: { node: string; name: string; dataset: string; samples: number }[] }
  | { event: "normalization"; method: string; columns: string[] }
  | { event: "preparation"; columns: { name: string; kind: string; categories?: string[]; fill?: number | string }[] }
  | {
      event: "progress";
      round: number;
      node: string;
      name: string;
      epoch: number;
      step: number;
      total_steps: number;
      /** Absent when the node withheld it (under dp). */
      loss?: number;
    }
  | {
      event: "round";
      round: number;
      rounds: number;
      nodes: NodeResult[];
      failed: NodeFailure[];
      /** Sample-weighted mean of the nodes' losses; absent when every node withheld it (under dp). */
      loss?: number;
      metrics: { global?: Record<string, number>; local?: Record<string, number> };
      /** Bound on the distance of the pooled auc from the auc of all test rows' exact scores. */
      auc_error?: { global?: number; local?: number };
      seconds: number;
      /** When the round ended, seconds since the Unix epoch. */
      time: number;
      /** With dp: ε spent so far (local: the largest over the nodes). */
      privacy?: RoundPrivacy;
    }
  | { event: "error"; message: string; round?: number; node?: string; code?: FailureCode; plan?: string }
  | {
      event: "done";
      rounds: number;
      metrics: Record<string, number>;
      auc_error?: number;
      /** Nodes that sent no final metrics (e.g. validation_refused), and why. */
      metrics_withheld?: NodeFailure[];
      model: string;
      run: string;
      privacy?: { mode: "local" | "central"; epsilon: number; delta: number };
    };

/** A round's event and the final `done` event, as history.jsonl, `runRound()` and `finish()` hold them. */
export type RoundEvent = Extract<ExperimentEvent, { event: "round" }>;
export type DoneEvent = Extract<ExperimentEvent, { event: "done" }>;
