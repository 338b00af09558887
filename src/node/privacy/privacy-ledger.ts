import { createStore, type Row } from "tinybase";
import { z } from "zod";
import { FbmError } from "../../common/errors.js";
import { defaultOrders, epsilonFromRdp, legacyOrderCount } from "../../privacy/dp/rdp.js";
import { createJsonFilePersister } from "../catalogue/json-file-persister.js";

/**
 * The node's privacy ledger: the Rényi DP each experiment has spent on each dataset, a TinyBase `spent`
 * table saved atomically to `privacy.json` in the node home. Rows are keyed by the dataset's fingerprint
 * (sha256 of its files), not its catalogue id, so removing and registering the same data again does not
 * reset what it has spent. A dataset's total is the sum of its rows' RDP curves, order by order: RDP
 * composes by addition (Mironov 2017, Proposition 1), which is tighter than adding each experiment's ε.
 * A row holds RDP at the first `rdp.length` of `defaultOrders`: rows written before the larger orders were
 * added hold 151 values, and count as +∞ at the orders they lack (RDP at a higher order is not bounded by
 * the lower ones), so what they spent stays counted and only new rows make the larger orders usable.
 */
export interface PrivacyLedger {
  /** ε spent on a dataset over every experiment, at δ. */
  datasetEpsilon(sha256: string, delta: number, datasetId?: string): { epsilon: number; rounds: number };
  /** One line per damaged entry (what is wrong, the dataset it spends, how to repair it), for a WARN. */
  damaged(): string[];
  /**
   * Under the ledger file's lock: adds `rdp` (one round's RDP curve, at `defaultOrders`) to the
   * experiment's row, unless the dataset's total would then pass `budget` at `budgetDelta`, which throws
   * a PrivacyBudgetError and changes nothing. Returns the experiment's ε at `delta` after the round.
   */
  charge(request: ChargeRequest): Promise<{ experimentEpsilon: number; datasetEpsilon: number }>;
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface ChargeRequest {
  sha256: string;
  datasetId: string;
  datasetName: string;
  experiment: string;
  round: number;
  rdp: number[];
  /** The experiment's δ, for the ε reported back. */
  delta: number;
  /** Most ε the dataset may reach (undefined: no budget), measured at `budgetDelta`. */
  budget?: number;
  budgetDelta: number;
}

/** A round refused because it would take a dataset past its budget. */
export class PrivacyBudgetError extends FbmError {
  constructor(message: string) {
    super(message, 1);
    this.name = "PrivacyBudgetError";
  }
}

const TABLE = "spent";
const schema = {
  [TABLE]: {
    sha256: { type: "string", default: "" },
    datasetId: { type: "string", default: "" },
    experiment: { type: "string", default: "" },
    rdp: { type: "array", default: [] },
    rounds: { type: "number", default: 0 },
    updatedAt: { type: "string", default: "" },
  },
} as const;

const rowSchema = z.object({
  // Checked where it is read (rowSha256), like rdp: a damaged key spends its dataset's budget instead.
  sha256: z.unknown(),
  datasetId: z.string(),
  experiment: z.string(),
  // Checked where it is read (spentOf), not here: a damaged curve must not stop the node from starting.
  rdp: z.unknown(),
  rounds: z.number().int().nonnegative(),
  updatedAt: z.string(),
});

export async function createPrivacyLedger(options: { path: string }): Promise<PrivacyLedger> {
  const store = createStore().setTablesSchema(schema);
  const file = createJsonFilePersister(store, options.path, { what: "privacy ledger", table: TABLE, rowSchema });
  await file.load();

  const rows = () => store.getRowIds(TABLE).map((id) => ({ id, ...(store.getRow(TABLE, id) as unknown as LedgerRow) }));
  // A row belongs to a dataset by its sha256; a row whose sha256 is damaged (empty, or not the one its
  // key `sha256:experiment` was written with) belongs to the dataset its key or datasetId names, and
  // spends all of that dataset's budget: the ε it recorded cannot be trusted to be the whole of it.
  const totalOf = (sha256: string, datasetId?: string) => {
    const total = new Array<number>(defaultOrders.length).fill(0);
    let rounds = 0;
    let damagedRows = 0;
    for (const row of rows()) {
      const damaged = isDamaged(row);
      const mine =
        row.sha256 === sha256 ||
        (damaged && (row.id.startsWith(`${sha256}:`) || (datasetId !== undefined && row.datasetId === datasetId)));
      if (!mine) continue;
      const rdp = damaged ? [] : spentOf(row.rdp);
      if (rdp.length === 0) damagedRows++;
      for (let i = 0; i < total.length; i++) total[i] += at(rdp, i);
      rounds += row.rounds;
    }
    return { total, rounds, damagedRows };
  };

  return {
    datasetEpsilon(sha256, delta, datasetId) {
      const { total, rounds } = totalOf(sha256, datasetId);
      return { epsilon: epsilonFromRdp(total, delta).epsilon, rounds };
    },
    charge: (request) => {
      // σ ≤ 0 (no noise) or a step count past float64 gives an infinite or NaN cost: nothing to charge
      // that could ever be paid back, so the round is refused before the file is touched.
      const bad = request.rdp.findIndex((r) => !(r >= 0 && r < Number.POSITIVE_INFINITY));
      if (bad >= 0 || request.rdp.length !== defaultOrders.length) {
        const what = bad >= 0 ? `${request.rdp[bad]} at order ${defaultOrders[bad]}` : "the wrong number of orders";
        return Promise.reject(
          new PrivacyBudgetError(
            `Round ${request.round} on dataset "${request.datasetName}" (${request.datasetId}) would cost RDP ${what}: ` +
              "refused (a noise multiplier of 0 gives no privacy); ask for noise_multiplier above 0 and fewer steps",
          ),
        );
      }
      return file.update(() => {
        const { total, damagedRows } = totalOf(request.sha256, request.datasetId);
        // Under no budget too: a dataset whose record cannot be read is not charged on top of it.
        if (damagedRows > 0)
          throw new PrivacyBudgetError(
            `Dataset "${request.datasetName}" (${request.datasetId}) has ${damagedRows} damaged privacy ledger ` +
              `entr${damagedRows === 1 ? "y" : "ies"}: its budget counts as spent; repair the ledger (see the WARN ` +
              "fbm-node serve logs at start)",
          );
        const before = epsilonFromRdp(total, request.budgetDelta).epsilon;
        const after = epsilonFromRdp(
          total.map((r, i) => r + request.rdp[i]),
          request.budgetDelta,
        ).epsilon;
        if (request.budget !== undefined && after > request.budget) {
          const left = Math.max(0, request.budget - before);
          throw new PrivacyBudgetError(
            `Round ${request.round} would bring dataset "${request.datasetName}" (${request.datasetId}) to ` +
              `ε ${after.toFixed(3)} at δ ${request.budgetDelta}, past its budget of ${request.budget}: ` +
              `ε ${left.toFixed(3)} is left (${before.toFixed(3)} spent); ask for more noise or fewer steps, ` +
              `or raise the budget with \`fbm-node dataset set ${request.datasetId} max_epsilon E\``,
          );
        }
        const id = `${request.sha256}:${request.experiment}`;
        const stored = store.hasRow(TABLE, id) ? (store.getRow(TABLE, id) as unknown as LedgerRow) : undefined;
        const row = stored && { ...stored, rdp: spentOf(stored.rdp) };
        // An older row stays as long as it was (the orders it lacks stay +∞); JSON has no Infinity (σ 0
        // spends it), so the largest finite number stands in for it: ε is then as good as infinite.
        const rdp = request.rdp
          .slice(0, row?.rdp.length ?? defaultOrders.length)
          .map((r, i) => Math.min(Number.MAX_VALUE, r + (row ? at(row.rdp, i) : 0)));
        const next: LedgerRow = {
          sha256: request.sha256,
          datasetId: request.datasetId,
          experiment: request.experiment,
          rdp,
          rounds: (row?.rounds ?? 0) + 1,
          updatedAt: new Date().toISOString(),
        };
        store.transaction(() => store.setRow(TABLE, id, next as unknown as Row));
        const experimentEpsilon = epsilonFromRdp(complete(rdp), request.delta).epsilon;
        return { experimentEpsilon, datasetEpsilon: after };
      });
    },
    damaged: () =>
      rows()
        .filter((row) => isDamaged(row) || spentOf(row.rdp).length === 0)
        .map(
          (row) =>
            `Privacy ledger entry "${row.id}" (dataset ${row.datasetId || "unknown"}) is damaged ` +
            `(${isDamaged(row) ? "its sha256 does not match its key" : "its RDP is not a list of numbers"}): ` +
            `that dataset's budget counts as spent until it is repaired; restore ${options.path}.bak, or ` +
            "fix the entry by hand (its sha256 is the part of its key before the colon)",
        ),
    reload: () => file.load(),
    close: () => file.destroy(),
  };
}

/**
 * A row's RDP curve as it may be counted. A damaged one (not a list of at least the legacy number of
 * non-negative numbers: `null`, text, a NaN) counts as +∞ at every order, so the dataset's budget is
 * spent: the node still starts and serves its other datasets, and no round is charged against a
 * record it cannot read.
 */
function spentOf(rdp: unknown): number[] {
  const ok =
    Array.isArray(rdp) &&
    rdp.length >= legacyOrderCount &&
    rdp.length <= defaultOrders.length &&
    rdp.every((r) => typeof r === "number" && r >= 0);
  return ok ? (rdp as number[]) : [];
}

/** A row whose sha256 is not the one its key was written with (`sha256:experiment`). */
function isDamaged(row: LedgerRow & { id: string }): boolean {
  return typeof row.sha256 !== "string" || row.sha256 === "" || row.id !== `${row.sha256}:${row.experiment}`;
}

/** A row's RDP at order index i: +∞ at an order the row did not record. */
function at(rdp: readonly number[], i: number): number {
  return i < rdp.length ? rdp[i] : Number.POSITIVE_INFINITY;
}

/** A row's RDP at every order of `defaultOrders`. */
function complete(rdp: readonly number[]): number[] {
  return defaultOrders.map((_, i) => at(rdp, i));
}

interface LedgerRow {
  sha256: string;
  datasetId: string;
  experiment: string;
  rdp: number[];
  rounds: number;
  updatedAt: string;
}
