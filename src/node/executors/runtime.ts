import type { Plan } from "../../ml/plan.js";
import type { ReplyBody } from "../../wire/index.js";
import type { DisclosurePolicy } from "../analytics/summarize.js";
import type { Catalogue } from "../catalogue.js";
import type { DatasetLoader } from "../dataset-loader.js";
import type { NodePrivacy } from "../dataset-privacy.js";
import type { ControlStore } from "./scaffold.js";

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
    request?: { experiment?: string; datasetId?: string },
  ): Promise<ReplyBody | undefined>;
  /** SCAFFOLD's local control variates, per experiment and plan. */
  controls: ControlStore;
  /** The privacy budget and ledger (config `max_epsilon`, `dp_delta`; `privacy.json`). */
  privacy: NodePrivacy;
  /** What statistics may tell (config `min_count`, `stats_minmax`). */
  analytics: DisclosurePolicy;
  log(line: string): void;
}
