/**
 * The library behind the CLIs: run experiments from scripts and notebooks, round by round if you like
 * (README.md, section "From code"). Built to dist/ (`npm run build:lib`) for plain Node.
 */

export { fingerprintOfPem, generateKeyPair, type KeyPair, parseFingerprint } from "./common/certificates.js";
export { type Problem, ValidationError } from "./common/validation.js";
export { selectBackend } from "./ml/backend.js";
export { loadModel, saveModel } from "./ml/export.js";
export { type Plan, parsePlan, planId } from "./ml/plan.js";
export type { NamedTensor } from "./ml/types.js";
export { type Aggregator, type AggregatorConfig, createAggregator } from "./researcher/aggregators/index.js";
export { parseAnalysisFile, readAnalysisFile } from "./researcher/analyze/analysis-file.js";
export type { AnalyzeResult } from "./researcher/analyze/analyze-result.js";
export { type AnalyzeOptions, runAnalyze } from "./researcher/analyze/run-analyze.js";
export { type Experiment, experimentJsonSchema, loadExperiment, parseExperiment } from "./researcher/run/config.js";
export type { DoneEvent, ExperimentEvent, FailureCode, NodeFailure, RoundEvent } from "./researcher/run/events.js";
export {
  createExperiment,
  type ExperimentOptions,
  type FederatedExperiment,
} from "./researcher/run/experiment.js";
export { type AllowEntry, allowNode, readAllowList } from "./researcher/server/allow-list.js";
export type { ResearcherTls } from "./researcher/server/server-tls.js";
export { runStats } from "./researcher/stats/run-stats.js";
export type { StatsOptions } from "./researcher/stats/stats-options.js";
export type { ColumnReport, NodeReport, StatsResult } from "./researcher/stats/stats-result.js";
export type { ReplyErrorCode } from "./wire/index.js";
