import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gateTable } from "../../../src/node/clinical/disclosure-gate.js";
import { MAX_CLINICAL_ITERATIONS } from "../../../src/node/executors/clinical.js";
import { createExecutor } from "../../../src/node/executors/index.js";
import type { ClinicalQuery, ReplyBody } from "../../../src/wire/index.js";
import { csvCatalogue, csvText, offTheWire, testRuntime } from "../../support/executor-node.js";

const root = mkdtempSync(join(tmpdir(), "fbm-clinical-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A node holding one csv (header + rows) with the given min_count; `ask` sends a clinical query over the wire codec. */
async function node(header: string[], rows: (string | number)[][], minCount: number) {
  const dir = mkdtempSync(join(root, `n${n++}-`));
  const { catalogue, entry } = await csvCatalogue(dir, "data.csv", csvText(header, rows), { name: "data" });
  const logs: string[] = [];
  const execute = createExecutor(
    testRuntime(catalogue, { log: (line: string) => logs.push(line), analytics: { minCount, minMax: false } }),
  );
  const ask = async (query: ClinicalQuery, queryId = "q1"): Promise<ReplyBody> =>
    offTheWire(
      await execute(
        { taskId: "t", experiment: "analyze", body: { kind: "clinical", datasetId: entry.id, queryId, query } },
        { signal: new AbortController().signal, feedback: () => {} },
      ),
    );
  return { ask, logs };
}

/** Rows of age, a 0/1 outcome, a ward (one ward held by a single patient), time and event. */
function ward(rowsCount: number): (string | number)[][] {
  return Array.from({ length: rowsCount }, (_, i) => [
    40 + ((i * 7) % 30),
    i % 3 === 0 ? 1 : 0,
    i === 0 ? "rare" : i % 2 ? "north" : "south",
    10 + i * 3,
    i % 4 === 0 ? 0 : 1,
  ]);
}
const header = ["age", "outcome", "ward", "days", "event"];
const glm = (beta: number[], levels = ["north", "rare", "south"]): ClinicalQuery => ({
  kind: "glm",
  family: "binomial",
  y: "outcome",
  x: ["age"],
  factors: [{ column: "ward", levels }],
  beta,
});

describe("clinical queries on a node", () => {
  it("answers a GLM step with sums over the rows it uses, leaving out a category it would not publish", async () => {
    const { ask, logs } = await node(header, ward(40), 5);
    const reply = await ask(glm([0, 0, 0, 0]));
    assert.equal(reply.kind, "clinical");
    if (reply.kind !== "clinical" || reply.result.kind !== "glm") return;
    // The patient alone in ward "rare" is left out: the "ward=rare" column of XᵀWX is all zero.
    assert.equal(reply.rows, 39);
    assert.equal(reply.excluded, "below");
    const p = 4;
    assert.ok([0, 1, 2, 3].every((j) => reply.result.kind === "glm" && reply.result.xtwx[2 * p + j] === 0));
    assert.equal(reply.result.xtwx[0], 39 * 0.25, "XᵀWX[0][0] is Σw = n/4 at β = 0");
    assert.match(logs.join("\n"), /Clinical glm query q1 for "analyze" on "data": 39 rows/);
  });

  it("refuses a model with more parameters than a third of its rows, naming the rule", async () => {
    const { ask } = await node(header, ward(11), 3);
    const reply = await ask(glm([0, 0, 0, 0], ["north", "rare", "south"]));
    assert.equal(reply.kind, "error");
    if (reply.kind !== "error") return;
    assert.equal(reply.code, "too_many_parameters");
    assert.match(
      reply.message,
      /4 parameters for 10 usable rows.*one parameter per 3 rows \(its fixed rule ROWS_PER_PARAMETER/,
    );
  });

  it("refuses a binomial GLM whose outcome has fewer than min_count rows of one class", async () => {
    const rows = ward(40).map((r, i) => [r[0], i < 4 ? 1 : 0, r[2], r[3], r[4]]);
    const { ask } = await node(header, rows, 5);
    const reply = await ask(glm([0, 0, 0, 0]));
    assert.deepEqual(
      reply.kind === "error" && [reply.code, /fewer than min_count 5 rows of one class/.test(reply.message)],
      ["below_min_count", true],
    );
  });

  it("caps the iterations of one analysis", async () => {
    const { ask } = await node(header, ward(40), 5);
    for (let i = 0; i < MAX_CLINICAL_ITERATIONS; i++)
      assert.equal((await ask(glm([0, 0, 0, 0]), "capped")).kind, "clinical");
    const over = await ask(glm([0, 0, 0, 0]), "capped");
    assert.equal(over.kind === "error" && over.code, "iteration_cap");
    assert.equal((await ask(glm([0, 0, 0, 0]), "another")).kind, "clinical");
  });

  it("attack: survival counts on intervals finer than min_count exits are refused (one patient's time stays inside)", async () => {
    const { ask } = await node(header, ward(40), 5);
    const fine = await ask({ kind: "km_counts", time: "days", event: "event", group: "", grid: 1, cuts: [0, 10, 14] });
    assert.equal(fine.kind, "error");
    if (fine.kind === "error") assert.equal(fine.code, "below_min_count");
    const next = await ask({ kind: "km_cuts", time: "days", event: "event", group: "", grid: 1, cuts: [0] });
    assert.ok(next.kind === "clinical" && next.result.kind === "km_cuts");
    if (next.kind !== "clinical" || next.result.kind !== "km_cuts") return;
    // The shortest interval it allows holds 5 exits: the times 10, 13, …, 22, so it ends after step 22.
    assert.deepEqual(next.result.cuts, [23]);
  });

  it("names no level held by fewer than min_count rows, and withholds small cells with secondary suppression", async () => {
    const { ask } = await node(header, ward(40), 5);
    const reply = await ask({ kind: "table", rows: "ward", cols: "" });
    assert.ok(reply.kind === "clinical" && reply.result.kind === "table");
    if (reply.kind !== "clinical" || reply.result.kind !== "table") return;
    assert.deepEqual(reply.result.rowLevels, ["(other)", "north", "south"]);
    // (other) holds 1 row: withheld; the total is known, so the smaller of the others is hidden too.
    assert.deepEqual(reply.result.cells, ["hidden", 20, "hidden"]);
  });

  it("secondary suppression leaves no row or column with one withheld cell or withheld cells under min_count", () => {
    // A 3 × 3 table, min_count 5: the 2 is withheld; its row and column then need a second cell each, so
    // that no margin minus the published cells pins it, and so do the lines those cells cross.
    const table = [2, 9, 12, 7, 8, 20, 15, 6, 30];
    const cells = gateTable(table, 3, 3, 5);
    for (const line of [
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, 8],
    ]) {
      const withheld = line.filter((i) => cells[i] === "hidden");
      const held = withheld.reduce((sum, i) => sum + table[i], 0);
      assert.ok(withheld.length === 0 || (withheld.length >= 2 && held >= 5), JSON.stringify(cells));
    }
    // Greedy, line by line (not the fewest cells): the last column, whose cells are all large, stays exact.
    assert.deepEqual(cells, ["hidden", "hidden", 12, "hidden", "hidden", 20, "hidden", "hidden", 30]);
  });

  it("attack: a covariate that singles out a few patients (their outcome would be an entry of XᵀWz) is refused", async () => {
    // "flag" is 1 for one patient only: XᵀWz's flag entry at β = 0 would be that patient's outcome − 1/2.
    const rows = ward(40).map((r, i) => [...r, i === 7 ? 1 : 0]);
    const { ask } = await node([...header, "flag"], rows, 5);
    const reply = await ask({ ...glm([0, 0, 0]), x: ["age", "flag"], factors: [] } as ClinicalQuery);
    assert.equal(reply.kind, "error", "the node must not answer");
    if (reply.kind === "error") {
      assert.equal(reply.code, "below_min_count");
      assert.match(
        reply.message,
        /Covariate "flag" takes the value 1 in 1 usable row\(s\) on this node, fewer than its min_count 5/,
      );
    }
    // Its complement (0 for one patient, next to the intercept) singles out the same patient.
    const inverse = await node(
      [...header, "flag"],
      ward(40).map((r, i) => [...r, i === 7 ? 0 : 1]),
      5,
    );
    const other = await inverse.ask({ ...glm([0, 0, 0]), x: ["age", "flag"], factors: [] } as ClinicalQuery);
    assert.equal(other.kind === "error" && other.code, "below_min_count");
  });

  it("refuses an outcome that is not 0/1 for a binomial GLM, quoting it", async () => {
    const rows = ward(40).map((r, i) => (i === 5 ? [r[0], 2, r[2], r[3], r[4]] : r));
    const { ask } = await node(header, rows, 5);
    const reply = await ask(glm([0, 0, 0, 0]));
    assert.ok(reply.kind === "error" && reply.code === "invalid_input");
    if (reply.kind === "error")
      assert.equal(
        reply.message,
        'Column "outcome" holds 2 in dataset "data": the outcome of a binomial glm must be 0 or 1',
      );
  });
});
