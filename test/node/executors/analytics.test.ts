import assert from "node:assert/strict";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { writeIdx } from "../../../scripts/lib/synthetic-images.js";
import { createCatalogue } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { createExecutor } from "../../../src/node/executors/index.js";
import { TaskCancelled } from "../../../src/node/serve/task-cancel.js";
import type { ReplyBody, TaskBody } from "../../../src/wire/index.js";
import { csvCatalogue, csvText, offTheWire, testRuntime } from "../../support/executor-node.js";

const root = mkdtempSync(join(tmpdir(), "fbm-analytics-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A node with one CSV dataset (written from `rows`) and the given limits; its log lines are kept. */
async function node(
  rows: number[][],
  header: string[],
  policy: { minCount?: number; minMax?: boolean } = {},
  target?: string,
) {
  const dir = mkdtempSync(join(root, `n${n++}-`));
  const { catalogue, entry, path } = await csvCatalogue(dir, "data.csv", csvText(header, rows), {
    name: "data",
    target,
  });
  const logs: string[] = [];
  const execute = createExecutor(
    testRuntime(catalogue, {
      log: (line: string) => logs.push(line),
      analytics: { minCount: policy.minCount ?? 10, minMax: policy.minMax ?? false },
    }),
  );
  /** Runs a task and returns the reply as the researcher would read it off the wire. */
  const run = async (body: TaskBody, signal = new AbortController().signal): Promise<ReplyBody> =>
    offTheWire(await execute({ taskId: "t", experiment: "stats", body }, { signal, feedback: () => {} }));
  return { entry, run, logs, path };
}

/** Every number anywhere in a value. */
function numbers(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (Array.isArray(value)) return value.flatMap(numbers);
  if (value && typeof value === "object") return Object.values(value).flatMap(numbers);
  return [];
}

// 40 rows: "age" has 20 values in [20, 30), 17 in [30, 40) and 3 in [80, 90); every value has 4 decimals.
const ages = [
  ...Array.from({ length: 20 }, (_, i) => 20.1234 + i * 0.4321),
  ...Array.from({ length: 17 }, (_, i) => 30.5678 + i * 0.5113),
  81.1357,
  84.2468,
  88.9753,
];
const rows = ages.map((age, i) => [age, Number((100 + i * Math.PI).toFixed(4)), i < 37 ? i % 2 : 2]);
const header = ["age", "ldl", "label"];

describe("analytics tasks on the node", () => {
  it("counts on its own 5-year cells and sends bins only from that published table: small, empty and complementing cells hidden", async () => {
    const { entry, run } = await node(rows, header);
    const histogram = async (bins: number) => {
      const reply = await run({
        kind: "analytics",
        phase: "histogram",
        datasetId: entry.id,
        columns: ["age"],
        histograms: [{ column: "age", lo: 0, hi: 100, bins, fine: 10 }],
      });
      assert.equal(reply.kind, "analytics");
      return reply.kind === "analytics" ? reply.histograms[0] : { name: "", counts: [], fine: [] };
    };
    // Cells (ages 20–89, 5-year cells): 12 in [20, 25), then 8, 9, 8, and 2 and 1 in [80, 90). Only 12
    // is min_count or more; the suppressed cells hold 28 together, so no secondary suppression is needed.
    const fine = await histogram(20);
    const h = "hidden" as const;
    assert.deepEqual(fine.counts, [h, h, h, h, 12, h, h, h, h, h, h, h, h, h, h, h, h, h, h, h]);
    assert.ok(
      fine.fine.every((r) => r.count >= 10 && r.start >= 40 && r.end <= 50),
      JSON.stringify(fine.fine),
    );
    assert.equal(
      fine.fine.reduce((s, r) => s + r.count, 0),
      12,
      "fine runs tile only the bin published exactly",
    );
    // 10-year bins: [20, 30) holds the published 12 and a suppressed cell, so it is hidden too.
    const decades = await histogram(10);
    assert.deepEqual(decades.counts, [h, h, h, h, h, h, h, h, h, h]);
    for (const reply of [fine, decades]) {
      assert.ok(!numbers(reply).some((n) => [1, 2, 3, 8, 9, 17, 20].includes(n)), "no suppressed count travels");
    }
  });

  it("refuses histogram edges that leave some values out", async () => {
    const { entry, run } = await node(rows, header);
    const reply = await run({
      kind: "analytics",
      phase: "histogram",
      datasetId: entry.id,
      columns: ["age"],
      histograms: [{ column: "age", lo: 30, hi: 100, bins: 10, fine: 10 }],
    });
    assert.equal(reply.kind, "error");
    assert.match(
      reply.kind === "error" ? reply.message : "",
      /column "age": the range \[30, 100\] does not hold all its values/,
    );
  });

  it("sends no row-level value: no cell of the file appears in a summary or histogram reply", async () => {
    const { entry, run, logs } = await node(rows, header, {}, "label");
    const summary = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: [] });
    assert.equal(summary.kind, "analytics");
    if (summary.kind !== "analytics") return;
    const histograms = await run({
      kind: "analytics",
      phase: "histogram",
      datasetId: entry.id,
      columns: ["age", "ldl"],
      histograms: summary.summaries
        .filter((s) => s.name !== "label")
        .map((s) => ({ column: s.name, lo: s.rangeLo, hi: s.rangeHi, bins: 10, fine: 100 })),
    });
    const sent = new Set(numbers([summary, histograms]));
    const cells = rows.flat().filter((v) => !Number.isInteger(v)); // labels 0/1/2 are counts' neighbours, not secrets
    assert.deepEqual(
      cells.filter((v) => sent.has(v)),
      [],
    );
    const age = summary.summaries.find((s) => s.name === "age")!;
    assert.deepEqual(
      [age.min, age.max, age.minMaxGrid],
      [20, 90, 10],
      "min and max rounded outward (stats_minmax false)",
    );
    assert.equal(age.count, 40);
    // Class counts of the target: 19 and 18 of classes 0 and 1; the class of 3 is never named, and its
    // rows (the rest of the count) would give it away, so the smallest named count is hidden.
    const label = summary.summaries.find((s) => s.name === "label")!;
    assert.deepEqual(label.classes, [
      { name: "0", count: 19 },
      { name: "1", count: "hidden" },
    ]);
    assert.match(logs.join("\n"), /Statistics \(summary\) for "stats" on "data": 3 column\(s\), 40 rows/);
    assert.match(logs.join("\n"), /Statistics \(histogram\) for "stats" on "data": 2 histogram\(s\)/);
  });

  it("tells exact min and max only when stats_minmax is true", async () => {
    const { entry, run } = await node(rows, header, { minMax: true });
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: ["age"] });
    assert.ok(reply.kind === "analytics");
    assert.deepEqual(
      [reply.summaries[0].min, reply.summaries[0].max, reply.summaries[0].minMaxGrid],
      [20.1234, 88.9753, 0],
    );
  });

  it("a cancelled statistics task answers task_cancelled, not its statistics", async () => {
    const { entry, run } = await node(rows, header);
    const cancelled = AbortSignal.abort(new TaskCancelled("t", "operator"));
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: ["age"] }, cancelled);
    assert.ok(reply.kind === "error");
    assert.deepEqual([reply.code, reply.message], ["task_cancelled", "The task was cancelled by the node's operator"]);
  });

  it("answers only its size class when the dataset has fewer rows than min_count, before reading anything", async () => {
    const { entry, run, logs, path } = await node(rows.slice(0, 6), header, { minCount: 10 });
    unlinkSync(path); // the file is not read: its absence changes nothing
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: [] });
    assert.deepEqual(reply, { kind: "analytics", minCount: 10, tooSmall: true, summaries: [], histograms: [] });
    assert.match(logs.join("\n"), /fewer rows than min_count 10, answered with that alone/);
  });

  it("refuses an unknown column with invalid_input, naming it and the columns there are", async () => {
    const { entry, run } = await node(rows, header);
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: ["agee"] });
    assert.deepEqual(reply, {
      kind: "error",
      code: "invalid_input",
      planId: undefined,
      message: 'Cannot compute statistics: column "agee" is not in dataset "data"; columns: age, ldl, label',
    });
  });

  it("describes IDX images: images per class and the pixel intensities, over the declared range 0–255", async () => {
    const dir = mkdtempSync(join(root, "idx-"));
    const size = 4;
    const labels = Uint8Array.from({ length: 30 }, (_, i) => (i < 25 ? i % 2 : 2)); // 13, 12 and 5 images
    const pixels = Uint8Array.from({ length: 30 * size * size }, (_, i) => (i * 37) % 256);
    writeIdx(join(dir, "images.idx"), join(dir, "labels.idx"), { pixels, labels }, size);
    const catalogue = await createCatalogue({ path: join(dir, "catalogue.json") });
    const entry = await catalogue.addDataset(
      await describeDataset({
        type: "idx",
        path: join(dir, "images.idx"),
        labels: join(dir, "labels.idx"),
        tags: ["t"],
      }),
    );
    const execute = createExecutor(testRuntime(catalogue));
    const context = { signal: new AbortController().signal, feedback: () => {} };
    const summary = await execute(
      {
        taskId: "s",
        experiment: "stats",
        body: { kind: "analytics", phase: "summary", datasetId: entry.id, columns: [] },
      },
      context,
    );
    assert.ok(summary.kind === "analytics");
    const [p] = summary.summaries;
    const mean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
    assert.deepEqual([p.name, p.count, p.rangeLo, p.rangeHi], ["pixels", pixels.length, 0, 255]);
    assert.ok(Math.abs(p.mean - mean) < 1e-9, `${p.mean} vs ${mean}`);
    assert.deepEqual(p.classes, [
      { name: "0", count: 13 },
      { name: "1", count: "hidden" },
    ]);
    const histogram = await execute(
      {
        taskId: "h",
        experiment: "stats",
        body: {
          kind: "analytics",
          phase: "histogram",
          datasetId: entry.id,
          columns: ["pixels"],
          histograms: [{ column: "pixels", lo: 0, hi: 255, bins: 4, fine: 16 }],
        },
      },
      context,
    );
    assert.ok(histogram.kind === "analytics");
    assert.equal(
      histogram.histograms[0].counts.reduce<number>((s, c) => s + (typeof c === "number" ? c : 0), 0),
      pixels.length,
    );
    catalogue.close();
  });

  it("refuses a file changed since registration, and sends nothing computed from it", async () => {
    const { entry, run, path } = await node(rows, header);
    writeFileSync(path, `${[header.join(","), ...rows.slice(1).map((r) => r.join(","))].join("\n")}\n`);
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: [] });
    assert.equal(reply.kind, "error");
    assert.match(reply.kind === "error" ? reply.message : "", /changed since it was registered/);
  });

  it("answers a text column with its category counts over the wire, a rare category unnamed, and still checks the file", async () => {
    // 40 rows: sex F 19, M 18, and 3 rows of a category rare at this node.
    const sex = (i: number) => (i < 3 ? "rarecat" : i % 2 ? "F" : "M");
    const table = rows.map((r, i) => [r[0], sex(i), r[2]]) as unknown as number[][];
    const { entry, run, path } = await node(table, ["age", "sex", "label"], { minCount: 10 });
    const reply = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: ["sex"] });
    assert.equal(reply.kind, "analytics");
    if (reply.kind !== "analytics") return;
    const [text] = reply.summaries;
    assert.deepEqual(
      [text.name, text.count, text.classes, text.histogramGrid],
      ["sex", 40, [{ name: "F", count: 19 }], 0],
      "rarecat never named; M (18), the smallest, withheld with its 3 rows",
    );
    assert.ok(Number.isNaN(text.mean) && Number.isNaN(text.sum), "no moments of a text column");
    assert.ok(!JSON.stringify(reply).includes("rarecat"));
    writeFileSync(path, "age,sex,label\n1,F,0\n");
    const changed = await run({ kind: "analytics", phase: "summary", datasetId: entry.id, columns: ["sex"] });
    assert.match(changed.kind === "error" ? changed.message : "", /changed since it was registered/);
  });
});
