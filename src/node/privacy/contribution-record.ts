import { createHash } from "node:crypto";
import { createStore, type Row } from "tinybase";
import { z } from "zod";
import { createJsonFilePersister } from "../catalogue/json-file-persister.js";

/**
 * The node's record of what it has put into secure sums (issue 24, finding 2: differencing). Local
 * training is deterministic, so the same inputs give a bit-identical contribution; two unmasked sums over
 * {A,B,C,D} and {A,B,C} of such contributions give D's by subtraction. The record keys a contribution by
 * what enters the sum, not by the inputs that produced it (an input hash would miss a changed field that
 * changes nothing, e.g. `epochs` beside `updates`): the sha256 of its quantized update words, and the
 * sha256 of its loss and validation words (counts differ by nothing when the model is nudged by a bit).
 * Per key it keeps the peers the contribution was masked with and the survivors whose sum was unmasked;
 * a key seen with another set is refused. A TinyBase table saved atomically to
 * `secagg-contributions.json` in the node home (locked, mirrored to `.bak`, like the privacy ledger), so
 * it holds across restarts, `--resume` and new experiments.
 */
export interface ContributionRecord {
  /**
   * Before the masked input leaves: records `peers` for each key (first time) or checks them against the
   * recorded ones. Returns why the contribution is refused, or undefined. Remembers the session's keys.
   */
  train(session: string, keys: readonly string[], peers: readonly string[]): Promise<string | undefined>;
  /** Before unmasking: the survivors of a session's sum, recorded or checked like `train`'s peers. */
  reveal(session: string, survivors: readonly string[]): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The record's keys for one node's input vector: its update words, and its loss and validation words. */
export function contributionKeys(update: Uint32Array, contents: Uint32Array): string[] {
  const hash = (words: Uint32Array) =>
    createHash("sha256")
      .update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength))
      .digest("hex");
  // All-zero contents (no loss, no test rows) tell nothing by subtraction and would match every such node.
  const empty = contents.every((w) => w === 0);
  return [`update:${hash(update)}`, ...(empty ? [] : [`contents:${hash(contents)}`])];
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
  const keys = new Map<string, string[]>();
  const set = (ids: readonly string[]) => JSON.stringify([...new Set(ids)].sort());
  const refusal = (what: string, before: string, now: string) =>
    `This node already put this very update (or these very loss and validation counts) into a secure sum ${what} ${describe(before)}; a sum ${what} ${describe(now)} would reveal a node's contribution by subtraction. Run it again with the same nodes, or change training.seed in the experiment`;

  return {
    train: (session, ids, peers) =>
      file.update(() => {
        const now = set(peers);
        for (const id of ids) {
          const row = store.getRow(TABLE, id) as unknown as RecordRow | undefined;
          if (row?.peers && row.peers !== now) return refusal("masked with", row.peers, now);
        }
        keys.set(session, [...ids]);
        for (const old of keys.keys()) if (keys.size > KEPT_SESSIONS) keys.delete(old);
        for (const id of ids) {
          if (!store.getRow(TABLE, id).peers) {
            store.setRow(TABLE, id, { peers: now, survivors: "", at: new Date().toISOString() } as Row);
          }
        }
        return undefined;
      }),
    reveal: (session, survivors) =>
      file.update(() => {
        const ids = keys.get(session) ?? []; // none: no masked input of ours in this session
        const now = set(survivors);
        for (const id of ids) {
          const row = store.getRow(TABLE, id) as unknown as RecordRow;
          if (row.survivors && row.survivors !== now) return refusal("over", row.survivors, now);
        }
        for (const id of ids) {
          const row = store.getRow(TABLE, id) as unknown as RecordRow;
          if (!row.survivors) store.setRow(TABLE, id, { ...row, survivors: now } as unknown as Row);
        }
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
