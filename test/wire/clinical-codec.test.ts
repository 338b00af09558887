import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ClinicalQuery,
  type ClinicalReplyBody,
  decodeReply,
  decodeTask,
  encodeReply,
  encodeTask,
} from "../../src/wire/index.js";

async function* stream<T>(items: Iterable<T>) {
  yield* items;
}

const factors = [{ column: "stage", levels: ["I", "II", "III"] }];
const queries: ClinicalQuery[] = [
  { kind: "table", rows: "stage", cols: "arm" },
  { kind: "table", rows: "stage", cols: "" },
  { kind: "glm", family: "poisson", y: "visits", x: ["age"], factors, beta: [0.5, -1e-3, 2, 0] },
  { kind: "km_cuts", time: "days", event: "event", group: "arm", grid: 28, cuts: [4] },
  { kind: "km_counts", time: "days", event: "event", group: "", grid: 0.5, cuts: [0, 4, 7] },
  {
    kind: "cox",
    time: "days",
    event: "event",
    x: ["age"],
    factors,
    strata: "arm",
    ties: "breslow",
    beta: [0.1, 0.2, 0.3],
    concordance: true,
  },
];
const results: ClinicalReplyBody["result"][] = [
  { kind: "table", rowLevels: ["(other)", "I"], colLevels: ["A", "B"], cells: ["below", 12, "hidden", 0] },
  { kind: "glm", xtwx: [1.5, 2, 2, 9], xtwz: [3, -4.25], deviance: 12.5, loglik: -6.25 },
  { kind: "km_cuts", cuts: [] },
  { kind: "km_counts", groups: ["A", "B"], events: [5, 6, 7, 8], censored: [1, 0, 2, 3] },
  {
    kind: "cox",
    loglik: -100.5,
    gradient: [0.1, -0.2],
    information: [4, 1, 1, 3],
    events: 40,
    concordant: 900,
    discordant: 300,
    tiedRisk: 2,
  },
];

describe("clinical task and reply codec", () => {
  for (const query of queries) {
    it(`round-trips a ${query.kind} query`, async () => {
      const task = {
        taskId: "t1",
        experiment: "analyze",
        body: { kind: "clinical" as const, datasetId: "ds_1", queryId: "q-1", query },
      };
      const back = await decodeTask(stream(encodeTask(task, 8)));
      assert.deepEqual(back, task);
    });
  }
  for (const result of results) {
    it(`round-trips a ${result.kind} answer`, async () => {
      const reply = {
        taskId: "t1",
        nodeId: "n1",
        body: { kind: "clinical" as const, minCount: 10, rows: 120, excluded: "below" as const, result },
      };
      assert.deepEqual(await decodeReply(stream(encodeReply(reply, 12))), reply);
    });
  }
});
