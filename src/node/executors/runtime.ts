import type { WarmRounds } from "../../ml/engine/warm-rounds.js";
import type { Plan } from "../../ml/plan.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { ReplyBody } from "../../wire/index.js";
import type { DisclosurePolicy } from "../analytics/disclosure.js";
import type { Catalogue } from "../catalogue/catalogue.js";
import type { DatasetLoader } from "../catalogue/dataset-loader.js";
import type { TaskLimits } from "../plans/task-limits.js";
import type { ContributionRecord } from "../privacy/contribution-record.js";
import type { NodePrivacy } from "../privacy/dataset-privacy.js";
import type { ControlStore } from "./scaffold.js";
import type { SecaggSessions, UpdateTransform } from "./secagg.js";
import type { SecaggPolicy } from "./secagg-guard.js";

/** What task executors need from the running node. */
export interface NodeRuntime {
  catalogue: Catalogue;
  loader: DatasetLoader;
  version: string;
  backend: string;
  /** Most threads local training may use (undefined: every core). */
  threads?: number;
  /** Undefined when the node may run this plan (for this experiment, on this dataset); otherwise the error reply to send. */
  authorizePlan(
    planId: string,
    plan: Plan,
    request?: { experiment?: string; datasetId?: string; preparation?: TablePreparation },
  ): Promise<ReplyBody | undefined>;
  /** SCAFFOLD's local control variates, per experiment and plan. */
  controls: ControlStore;
  /** The privacy budget and ledger (config `max_epsilon`, `dp_delta`; `privacy.json`). */
  privacy: NodePrivacy;
  /** Secure aggregation rounds in progress. */
  secagg: SecaggSessions;
  /** Config `secagg_min_nodes`, the identity key and the peers' pinned identities the node's secagg checks use. */
  secaggPolicy?: SecaggPolicy;
  /** What this node has put into secure sums, so it never puts one update into two different sums. */
  contributions?: ContributionRecord;
  /** Config `require_secagg`: refuse train tasks without secure aggregation. */
  requireSecagg?: boolean;
  /** Applied to the clipped update before it is masked (the hook for central DP's per-node noise). */
  secaggTransform?: UpdateTransform;
  /** Test-only: sees each clipped update before masking (FBM_TEST_SECAGG_UPDATES, see serve.ts). */
  onSecaggUpdate?: (session: string, update: Float32Array[]) => void;
  /** This node's id (secure aggregation names peers by id). */
  nodeId: string;
  /** Caps on one task (config `max_updates`, `max_epochs`, `max_task_seconds`); undefined: none. */
  limits?: TaskLimits;
  /** What statistics may tell (config `min_count`, `stats_minmax`). */
  analytics: DisclosurePolicy;
  log(line: string): void;
  /** The network kept between rounds of one experiment (absent: every round builds its own). */
  warm?: WarmRounds;
  /** Debug lines (`serve --verbose`), e.g. a round's phases. */
  debug?(line: string): void;
}
