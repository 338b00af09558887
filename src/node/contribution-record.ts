import { createHash } from "node:crypto";
import { createStore, type Row } from "tinybase";
import { z } from "zod";
import { canonicalJson } from "../common/canonical-json.js";
import type { Plan } from "../ml/plan.js";
import type { TrainingArgs } from "../ml/types.js";
import type { TrainTaskBody } from "../wire/index.js";
import { createJsonFilePersister } from "./json-file-persister.js";

/**
 * The node's record of what it has put into secure sums (issue 24, finding 2: differencing). Local
 * training is deterministic, so the same inputs give a bit-identical update; two unmasked sums over
 * {A,B,C} and {A,B} of such updates give C's by subtraction. The record keeps, per contribution key
 * (a hash of everything training reads), the peers the update was masked with and the survivors whose
 * sum was unmasked; the same key with another set is refused. A TinyBase table saved atomically to
 * `secagg-contributions.json` in the node home (locked, mirrored to `.bak`, like the privacy ledger), so
 * it holds across restarts, `--resume` and new experiments.
 */
export interface ContributionRecord {
  /**
   * Before training: records `peers` for `key` (first time) or checks them against the recorded ones.
   * Returns why the contribution is refused, or undefined. Remembers the session's key for `reveal`.
   */
  train(session: string, key: string, peers: readonly string[]): Promise<string | undefined>;
  /** Before unmasking: the survivors of a session's sum, recorded or checked like `train`'s peers. */
  reveal(session: string, survivors: readonly string[]): Promise<string | undefined>;
  close(): Promise<void>;
}

const TABLE = "contributions";
const schema = {
  [TABLE]: {
    peers: { type: "string", default: "" },
    survivors: { type: "string", default: "" },
    at: { type: "string", default: "" },
  },
} as const;
const rowSchema = z.object({ peers: z.string().min(1), survivors: z.string(), at: z.string() });

/** The sessions whose key is remembered for their reveal (a node keeps a few sessions, see secagg.ts). */
const KEPT_SESSIONS = 64;

export async function createContributionRecord(options: { path: string }): Promise<ContributionRecord> {
  const store = createStore().setTablesSchema(schema);
  const file = createJsonFilePersister(store, options.path, {
    what: "secure aggregation record",
    table: TABLE,
    rowSchema,
  });
  await file.load();
  const keys = new Map<string, string>();
  const set = (ids: readonly string[]) => JSON.stringify([...new Set(ids)].sort());
  const refusal = (what: string, before: string, now: string) =>
    `This node already put this exact update (same global model, plan, training arguments, round and dataset) into a secure sum ${what} ${describe(before)}; a sum ${what} ${describe(now)} would reveal an update by subtraction. Run it again with the same nodes, or change training.seed (or the model) in the experiment`;

  return {
    train: (session, key, peers) =>
      file.update(() => {
        keys.set(session, key);
        for (const old of keys.keys()) if (keys.size > KEPT_SESSIONS) keys.delete(old);
        const now = set(peers);
        const row = store.getRow(TABLE, key) as unknown as RecordRow | undefined;
        if (row?.peers) return row.peers === now ? undefined : refusal("masked with", row.peers, now);
        store.setRow(TABLE, key, { peers: now, survivors: "", at: new Date().toISOString() } as Row);
        return undefined;
      }),
    reveal: (session, survivors) =>
      file.update(() => {
        const key = keys.get(session);
        if (key === undefined) return undefined; // no training in this session: nothing of ours to unmask
        const now = set(survivors);
        const row = store.getRow(TABLE, key) as unknown as RecordRow;
        if (row.survivors) return row.survivors === now ? undefined : refusal("over", row.survivors, now);
        store.setRow(TABLE, key, { ...row, survivors: now } as unknown as Row);
        return undefined;
      }),
    close: () => file.destroy(),
  };
}

interface RecordRow {
  peers: string;
  survivors: string;
  at: string;
}

const describe = (ids: string) => {
  const list = JSON.parse(ids) as string[];
  return `${list.length} node(s) (${list.join(", ")})`;
};

/**
 * The contribution key: sha256 over everything local training reads — the dataset's fingerprint, the
 * plan (parsed, so reformatting its JSON changes nothing), the global parameters' bytes, the arguments
 * that change the update (not `metrics` or `test_on`, which only change what is validated), the round
 * (it varies batch order), normalization and table preparation. The experiment's name is left out: a
 * new experiment with the same inputs is the same update.
 */
export function contributionKey(task: TrainTaskBody, plan: Plan, datasetSha256: string): string {
  const { metrics: _m, testOnGlobal: _g, testOnLocal: _l, dp, ...training } = task.args as TrainingArgs;
  // The researcher's stated sampling rate changes nothing the node computes.
  const noise = dp && { mode: dp.mode, noiseMultiplier: dp.noiseMultiplier, clipNorm: dp.clipNorm };
  const hash = createHash("sha256");
  hash.update(
    canonicalJson({
      dataset: datasetSha256,
      plan,
      args: training,
      dp: noise,
      round: task.round,
      normalization: task.normalization,
      preparation: task.preparation,
      params: task.params.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype })),
    }),
  );
  for (const t of task.params) hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return hash.digest("hex");
}
