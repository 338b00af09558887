import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CrosstabResult } from "../../../src/researcher/analyze/analyze-result.js";
import { runAnalysis } from "../../../src/researcher/analyze/run-analyze.js";
import type { Participant } from "../../../src/researcher/stats/run-stats.js";
import type { DatasetInfo, PublishedCount, ReplyBody, TaskBody } from "../../../src/wire/index.js";

function participant(name: string): Participant {
  const dataset: DatasetInfo = {
    id: `ds_${name}`,
    name: `${name}-trial`,
    type: "csv",
    tags: ["trial"],
    description: "",
    shape: [100, 3],
    columns: [
      { name: "age", dtype: "float64" },
      { name: "stage", dtype: "string" },
      { name: "arm", dtype: "string" },
    ],
    sampleCount: 100,
    classes: [],
    target: "",
    createdAt: "2026-01-01T00:00:00Z",
  };
  return { node: `node_${name}`, name, dataset };
}

/** Nodes answering every table query with the given cells (stage I/II × arm A/B). */
function tables(cells: Record<string, PublishedCount[]>) {
  return async (p: Participant, body: TaskBody): Promise<ReplyBody> => {
    assert.equal(body.kind, "clinical");
    return {
      kind: "clinical",
      minCount: 10,
      rows: 100,
      excluded: 0,
      result: { kind: "table", rowLevels: ["I", "II"], colLevels: ["A", "B"], cells: cells[p.name] },
    };
  };
}

describe("an analysis at the researcher", () => {
  it("pools a crosstab: a cell a node withheld becomes the range it lies in, and no χ² is computed", async () => {
    const send = tables({ alpha: ["below", "hidden", 30, 40], beta: [12, 20, 30, 38] });
    const result = (await runAnalysis(
      { crosstab: { rows: "stage", cols: "arm" } },
      0,
      [participant("alpha"), participant("beta")],
      send,
    )) as CrosstabResult;
    assert.deepEqual(result.cells, [
      ["13-21", "hidden"],
      [60, 78],
    ]);
    assert.equal(result.chi_square, null);
  });

  it("computes χ² when every pooled cell is known", async () => {
    const send = tables({ alpha: [20, 30, 30, 40], beta: [12, 20, 30, 38] });
    const result = (await runAnalysis(
      { name: "t", crosstab: { rows: "stage", cols: "arm" } },
      0,
      [participant("alpha"), participant("beta")],
      send,
    )) as CrosstabResult;
    assert.deepEqual(result.cells, [
      [32, 50],
      [60, 78],
    ]);
    assert.ok(result.chi_square && result.chi_square.df === 1 && result.fisher_p === null);
  });

  it("names the analysis's own key when a text covariate is not declared categorical", async () => {
    await assert.rejects(
      runAnalysis(
        { glm: { family: "gaussian", y: "age", x: ["stage"], max_iterations: 25 } },
        0,
        [participant("alpha")],
        async () => assert.fail("no query before the covariates are checked"),
      ),
      /Column "stage" holds text in dataset "alpha-trial" on node alpha: declare categorical in the analysis \(onehot\)/,
    );
  });

  it("reports a node's refusal with the node, the query and the code", async () => {
    await assert.rejects(
      runAnalysis({ crosstab: { rows: "stage", cols: "arm" } }, 0, [participant("alpha")], async () => ({
        kind: "error",
        code: "below_min_count",
        message: "3 usable row(s) on this node, fewer than its min_count 10",
      })),
      /^InputError: Node alpha refused the table query \(below_min_count\): 3 usable row\(s\)|Node alpha refused the table query \(below_min_count\)/,
    );
  });
});
