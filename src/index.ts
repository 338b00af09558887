/** The library behind the CLIs: run experiments from scripts and notebooks. */

export { fingerprintOfPem, generateKeyPair, type KeyPair, parseFingerprint } from "./common/certificates.js";
export { selectBackend } from "./ml/backend.js";
export { loadModel, saveModel } from "./ml/export.js";
export { type Plan, parsePlan, planId } from "./ml/plan.js";
export { type Aggregator, type AggregatorConfig, createAggregator } from "./researcher/aggregators/index.js";
export { type Experiment, loadExperiment, parseExperiment } from "./researcher/run/config.js";
export type { ExperimentEvent, FailureCode, NodeFailure } from "./researcher/run/events.js";
export { createExperiment, type ExperimentOptions } from "./researcher/run/experiment.js";
export { type AllowEntry, allowNode, readAllowList } from "./researcher/server/allow-list.js";
export type { ResearcherTls } from "./researcher/server/server-tls.js";
export { runStats } from "./researcher/stats/run-stats.js";
export type { StatsOptions } from "./researcher/stats/stats-options.js";
export type { ColumnReport, NodeReport, StatsResult } from "./researcher/stats/stats-result.js";
export type { ReplyErrorCode } from "./wire/index.js";
