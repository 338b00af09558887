import { createStore, type Row } from "tinybase";
import { z } from "zod";
import { InputError } from "../../common/errors.js";
import { createJsonFilePersister } from "../catalogue/json-file-persister.js";

export type PlanStatus = "pending" | "approved" | "rejected";

/** Who asked first for a plan: the experiment's name and the researcher's URL. */
export interface PlanRequester {
  experiment: string;
  researcher: string;
  /** The dataset the first request was for (its id): the GUI sizes the plan on it. Absent on older rows. */
  dataset?: string;
}

/** One plan the node was asked to run, and the operator's decision on it. */
export interface PlanEntry {
  /** sha256 of the plan's canonical JSON. */
  id: string;
  status: PlanStatus;
  /** The plan itself, as canonical JSON. */
  planJson: string;
  /** The operator's reason (rejections); "" when none. */
  note: string;
  requestedBy: PlanRequester;
  requestedAt: string;
  /** When approved or rejected; "" while pending. */
  decidedAt: string;
}

/** The node's plan registry: a TinyBase `plans` table saved atomically to `plans.json` in the node home. */
export interface PlanRegistry {
  /** Records a first request as pending and saves; a known plan (decided or not) is left as it is. */
  recordRequest(id: string, planJson: string, from: PlanRequester): Promise<PlanEntry>;
  /** Marks a known plan approved (clearing any rejection note) and saves. */
  approve(id: string): Promise<PlanEntry>;
  /** Marks a known plan rejected with the operator's note and saves. */
  reject(id: string, note: string): Promise<PlanEntry>;
  get(id: string): PlanEntry | undefined;
  /** Every plan, oldest request first. */
  list(): PlanEntry[];
  /** The full id of a plan from its id or a unique prefix of at least 6 characters (like git). */
  resolveId(idOrPrefix: string): string;
  /** Re-reads the file: another process (the CLI, `serve`) may have changed it. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Shortest prefix `resolveId` accepts. */
export const MIN_PREFIX = 6;

const TABLE = "plans";
const schema = {
  [TABLE]: {
    status: { type: "string", default: "pending" },
    planJson: { type: "string", default: "" },
    note: { type: "string", default: "" },
    experiment: { type: "string", default: "" },
    researcher: { type: "string", default: "" },
    dataset: { type: "string", default: "" },
    requestedAt: { type: "string", default: "" },
    decidedAt: { type: "string", default: "" },
  },
} as const;

/** What a stored row must hold (see catalogue.ts). */
const rowSchema = z.object({
  status: z.enum(["pending", "approved", "rejected"]),
  planJson: z.string().min(1),
  note: z.string(),
  experiment: z.string(),
  researcher: z.string(),
  dataset: z.string().optional(),
  requestedAt: z.string(),
  decidedAt: z.string(),
});

/** Opens the registry at `path` (a missing file is an empty registry, created on first save). */
export async function createPlanRegistry(options: { path: string }): Promise<PlanRegistry> {
  const store = createStore().setTablesSchema(schema);
  const file = createJsonFilePersister(store, options.path, { what: "plan registry", table: TABLE, rowSchema });
  await file.load();

  const get = (id: string) => (store.hasRow(TABLE, id) ? rowToEntry(id, store.getRow(TABLE, id)) : undefined);
  // Every write starts from the file under its lock, so a decision made by `fbm-node plan` while
  // `serve` runs is kept.
  const update = (id: string, cells: Partial<Record<keyof typeof schema.plans, string>>): Promise<PlanEntry> =>
    file.update(() => {
      const full = resolveIn(store.getRowIds(TABLE), id);
      store.transaction(() => store.setPartialRow(TABLE, full, cells));
      return get(full)!;
    });

  return {
    recordRequest: (id, planJson, from) =>
      file.update(() => {
        const known = get(id);
        if (known) return known;
        store.transaction(() =>
          store.setRow(TABLE, id, {
            status: "pending",
            planJson,
            note: "",
            experiment: from.experiment,
            researcher: from.researcher,
            dataset: from.dataset ?? "",
            requestedAt: new Date().toISOString(),
            decidedAt: "",
          }),
        );
        return get(id)!;
      }),
    approve: (id) => update(id, { status: "approved", note: "", decidedAt: new Date().toISOString() }),
    reject: (id, note) => update(id, { status: "rejected", note: note.trim(), decidedAt: new Date().toISOString() }),
    get,
    list: () =>
      store
        .getRowIds(TABLE)
        .map((id) => get(id)!)
        .sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)),
    resolveId: (idOrPrefix) => resolveIn(store.getRowIds(TABLE), idOrPrefix),
    reload: () => file.load(),
    close: () => file.destroy(),
  };
}

/** Git-style id resolution with messages saying what to type instead. */
export function resolveIn(ids: string[], idOrPrefix: string): string {
  const wanted = idOrPrefix.trim().toLowerCase();
  if (ids.includes(wanted)) return wanted;
  if (wanted.length < MIN_PREFIX) {
    throw new InputError(
      `Plan id "${idOrPrefix}" is too short: give at least ${MIN_PREFIX} characters of it (see \`fbm-node plan list\`)`,
    );
  }
  const matches = ids.filter((id) => id.startsWith(wanted));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new InputError(
      `No plan "${idOrPrefix}" on this node: it has not been asked to run it (see \`fbm-node plan list\`)`,
    );
  }
  const shown = matches.map((id) => id.slice(0, 16)).join(", ");
  throw new InputError(
    `Plan id "${idOrPrefix}" is ambiguous: it starts ${matches.length} plans (${shown}); give more characters`,
  );
}

function rowToEntry(id: string, row: Row): PlanEntry {
  const cells = row as Record<keyof typeof schema.plans, string>;
  return {
    id,
    status: cells.status as PlanStatus,
    planJson: cells.planJson,
    note: cells.note,
    requestedBy: {
      experiment: cells.experiment,
      researcher: cells.researcher,
      ...(cells.dataset ? { dataset: cells.dataset } : {}),
    },
    requestedAt: cells.requestedAt,
    decidedAt: cells.decidedAt,
  };
}
