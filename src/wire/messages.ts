import type { TablePreparation } from "../ml/table-prep.js";
import type { ColumnStats, NamedTensor, Normalization, TrainingArgs, TrainResult } from "../ml/types.js";
import type { AnalyticsReplyBody, AnalyticsTaskBody } from "./analytics-messages.js";
import type { ClinicalReplyBody, ClinicalTaskBody } from "./clinical-messages.js";
import type { ReplyErrorCode } from "./error-codes.js";
import type { SecaggMasking, SecaggReplyBody, SecaggTaskBody } from "./secagg-messages.js";
import type { TensorSpec } from "./tensor-bytes.js";

/** Plain TypeScript shapes of what travels; only src/wire knows the generated protobuf types. */

/** What a node tells the researcher about a dataset: never its path. */
export interface DatasetInfo {
  id: string;
  name: string;
  type: string;
  tags: string[];
  description: string;
  shape: number[];
  columns: { name: string; dtype: string }[];
  sampleCount: number;
  classes: { name: string; count: number }[];
  target: string;
  createdAt: string;
}

export interface TrainTaskBody {
  kind: "train";
  datasetId: string;
  planId: string;
  planJson: string;
  args: TrainingArgs;
  normalization?: Normalization;
  /** The resolved table preparation (csv plans that declare one). */
  preparation?: TablePreparation;
  round: number;
  params: NamedTensor[];
  /**
   * Researcher-side only, never sent: the tensors a reply must hold, when the algorithm's seam says
   * so (default: `replyTensorsFor(params)`). The hub checks reply heads against it.
   */
  replyTensors?: TensorSpec[];
  /** Secure aggregation: reply with the masked input (MASKED_TENSOR) instead of the parameters. */
  secagg?: SecaggMasking;
  /**
   * What the node adds to local training, by name; absent from a researcher older than the field,
   * when the node infers it (SCAFFOLD from the control tensors, FedProx from fedproxMu > 0).
   */
  algorithmExtension?: AlgorithmExtension;
  /**
   * "weighted_mean": the researcher averages the updates weighted by their sample counts, so a relay
   * may answer with one update for all its nodes (src/researcher/relay/). Absent: it needs each update.
   */
  aggregation?: "weighted_mean";
}

/** The names `algorithm_extension` carries ("" on the wire: none). */
export const algorithmExtensions = ["scaffold", "fedprox"] as const;
export type AlgorithmExtension = (typeof algorithmExtensions)[number];

export type TaskBody =
  | { kind: "ping" }
  | { kind: "list" }
  | { kind: "search"; tags: string[] }
  | { kind: "stats"; datasetId: string; planJson: string; preparation?: TablePreparation }
  | TrainTaskBody
  | AnalyticsTaskBody
  | SecaggTaskBody
  | ClinicalTaskBody;

export interface TaskEnvelope {
  taskId: string;
  experiment: string;
  body: TaskBody;
}

export type ReplyBody =
  | { kind: "ping"; version: string; backend: string }
  | { kind: "datasets"; datasets: DatasetInfo[] }
  | { kind: "stats"; columns: ColumnStats[] }
  | { kind: "train"; result: TrainResult }
  | AnalyticsReplyBody
  | SecaggReplyBody
  | ClinicalReplyBody
  | { kind: "error"; code: ReplyErrorCode; message: string; planId?: string };

export interface ReplyEnvelope {
  taskId: string;
  nodeId: string;
  body: ReplyBody;
}

export type FeedbackBody =
  | { kind: "progress"; epoch: number; step: number; totalSteps: number; loss?: number }
  | { kind: "log"; level: string; message: string }
  | { kind: "heartbeat" };

export interface FeedbackEnvelope {
  nodeId: string;
  taskId: string;
  body: FeedbackBody;
}
