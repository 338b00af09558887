/** The library behind the CLIs: run experiments from scripts and notebooks. */
export { createExperiment, type ExperimentOptions } from "./researcher/run/experiment.js";
export type { ExperimentEvent } from "./researcher/run/events.js";
export { loadExperiment, parseExperiment, type Experiment } from "./researcher/run/config.js";
export { createAggregator, type Aggregator, type AggregatorConfig } from "./researcher/aggregators/index.js";
export { parsePlan, planId, type Plan } from "./ml/plan.js";
export { loadModel, saveModel } from "./ml/export.js";
export { selectBackend } from "./ml/backend.js";
export type { ResearcherTls } from "./researcher/server/server-tls.js";
export { generateKeyPair, fingerprintOfPem, parseFingerprint, type KeyPair } from "./common/certificates.js";
export { allowNode, readAllowList, type AllowEntry } from "./researcher/server/allow-list.js";
export { runStats } from "./researcher/stats/run-stats.js";
export type { StatsOptions } from "./researcher/stats/stats-options.js";
export type { StatsResult, NodeReport, ColumnReport } from "./researcher/stats/stats-result.js";
