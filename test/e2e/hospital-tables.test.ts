import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  fbmNode,
  fbmResearcher,
  type NodeProcesses,
  prepareNodes,
  type ResearcherRun,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { createRng } from "../../src/ml/rng.js";

/**
 * Hospital tables end to end: three node processes whose CSVs hold text categories (different sets per
 * node, one category on 3 rows of one node only), ~7 % blank cells and a few rows without a target.
 * The same rows, fully numeric (true values, categories as 0/1 columns), are registered beside them:
 * the model trained on the tables must score within MARGIN of the one trained on the numeric data.
 */

/** Allowed accuracy loss of the table run against the fully numeric run, on the same held-out rows. */
const MARGIN = 0.05;
const RARE = "vaping";

interface Patient {
  age: number;
  ldl: number;
  sex: "F" | "M";
  smoking: string;
  label: number;
}

const effect: Record<string, number> = { never: -1.2, former: 0.3, current: 1.5, [RARE]: 1.0, "e-cigarette": 1.0 };

function patients(seed: number, rows: number, smoking: string[]): Patient[] {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: rows }, () => {
    const age = Math.round(55 + 10 * gauss());
    const ldl = Number((3.5 + gauss()).toFixed(2));
    const sex = rng.next() < 0.5 ? "F" : "M";
    const habit = smoking[Math.floor(rng.next() * smoking.length)];
    const score = 0.08 * (age - 55) + 1.2 * (ldl - 3.5) + (sex === "M" ? 0.8 : -0.8) + effect[habit] + 0.2 * gauss();
    return { age, ldl, sex, smoking: habit, label: score > 0 ? 1 : 0 };
  });
}

/** The hospital's export: text categories, blank cells at rate `blank` (age, ldl, smoking), `noTarget` rows without a label. */
function tableCsv(rows: Patient[], seed: number, blank: number, noTarget = 0): string {
  const rng = createRng(seed);
  const cell = (v: string | number) => (rng.next() < blank ? "" : String(v));
  const lines = rows.map((p, i) =>
    [cell(p.age), cell(p.ldl), p.sex, cell(p.smoking), i < noTarget ? "" : p.label].join(","),
  );
  return `age,ldl,sex,smoking,label\n${lines.join("\n")}\n`;
}

/** The same rows as numbers only: true values, sex as 0/1, smoking one-hot (other habits all zero). */
function numericCsv(rows: Patient[]): string {
  const habits = ["never", "former", "current"];
  const lines = rows.map((p) =>
    [p.age, p.ldl, p.sex === "M" ? 1 : 0, ...habits.map((h) => (p.smoking === h ? 1 : 0)), p.label].join(","),
  );
  return `age,ldl,sex_m,never,former,current,label\n${lines.join("\n")}\n`;
}

function experiment(dir: string, name: string, tags: string, data: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `name: ${name}`,
      `tags: [${tags}]`,
      "rounds: 6",
      "nodes: {min: 3, wait: 5m}",
      "plan:",
      `  data: ${data}`,
      "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
      "  loss: binaryCrossentropy",
      "  optimizer: {name: adam, learning_rate: 0.05}",
      "training: {epochs: 3, batch_size: 16, test_ratio: 0.2, metrics: [accuracy], seed: 5}",
    ].join("\n"),
  );
  return path;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const TABLE_PLAN =
  "{target: label, categorical: onehot, impute: {numeric: median, categorical: missing_category}, normalize: standard}";

describe("three hospitals with categorical columns and blanks (node processes, HTTP/2 on port 0)", {
  timeout: 4 * DEADLINE_MS,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-tables-"));
  const trace = join(dir, "trace.jsonl");
  const sites = [
    { seed: 1, smoking: ["never", "former", "current"], rare: 0, noTarget: 6 },
    { seed: 2, smoking: ["never", "current"], rare: 0, noTarget: 0 },
    { seed: 3, smoking: ["never", "former", "current"], rare: 3, noTarget: 0 },
  ];
  let nodes: NodeProcesses;
  let homes: string[];
  let tables: ResearcherRun;
  let numeric: ResearcherRun;

  before(async () => {
    const specs = sites.map((site, i) => {
      const rows = patients(site.seed, 300, site.smoking);
      for (let r = 0; r < site.rare; r++) rows[10 + r].smoking = RARE;
      const table = join(dir, `site-${i}-table.csv`);
      const plain = join(dir, `site-${i}-numeric.csv`);
      writeFileSync(table, tableCsv(rows, 100 + i, 0.07, site.noTarget));
      writeFileSync(plain, numericCsv(rows));
      return {
        name: `hospital-${i}`,
        datasets: [
          ["--type", "csv", "--path", table, "--tags", "tables,mixed", "--target", "label"],
          ["--type", "csv", "--path", plain, "--tags", "numeric", "--target", "label"],
        ],
      };
    });
    homes = await prepareNodes(dir, specs, { planApproval: false });
    nodes = await startNodes(homes);
    tables = await runResearcher({
      experiment: experiment(dir, "tables", "mixed", TABLE_PLAN),
      outDir: join(dir, "runs"),
      gate: nodes.gate,
      researcherArgs: ["--trace", trace],
    });
    numeric = await runResearcher({
      experiment: experiment(dir, "numeric", "numeric", "{target: label, normalize: standard}"),
      outDir: join(dir, "runs"),
      gate: nodes.gate,
    });
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("registration types the columns and keeps the rare category's count in the node's catalogue", async () => {
    const list = JSON.parse((await fbmNode("--home", homes[2], "dataset", "list", "--json")).stdout);
    const entry = list.find((d: { tags: string[] }) => d.tags.includes("mixed"));
    const kinds = Object.fromEntries(entry.columns.map((c: { name: string; kind: string }) => [c.name, c.kind]));
    assert.deepEqual(kinds, {
      age: "numeric",
      ldl: "numeric",
      sex: "categorical",
      smoking: "categorical",
      label: "binary",
    });
    const smoking = entry.columns.find((c: { name: string }) => c.name === "smoking");
    assert.equal(smoking.categories.find((c: { name: string }) => c.name === RARE).count, sites[2].rare);
    assert.ok(smoking.missing > 0);
    const first = JSON.parse((await fbmNode("--home", homes[0], "dataset", "list", "--json")).stdout);
    const skipped = first.find((d: { tags: string[] }) => d.tags.includes("mixed"));
    assert.deepEqual([skipped.missingTarget, skipped.sampleCount], [6, 294]);
  });

  it("trains on the tables to within the margin of the same model on the fully numeric rows", async (t) => {
    assert.equal(tables.code, 0, tables.stderr);
    assert.equal(numeric.code, 0, numeric.stderr);
    const prep = tables.events.find((e) => e.event === "preparation")!;
    assert.deepEqual(
      prep.columns.map((c: { name: string; categories?: string[] }) => [c.name, c.categories ?? null]),
      [
        ["age", null],
        ["ldl", null],
        ["sex", ["F", "M"]],
        ["smoking", ["current", "former", "never"]],
      ],
    );
    // Federated medians (quantile brackets) of the values present: age ~ N(55, 10), ldl ~ N(3.5, 1).
    const fill = (name: string) => prep.columns.find((c: { name: string }) => c.name === name).fill;
    t.diagnostic(`median fills: age ${fill("age")}, ldl ${fill("ldl")}`);
    assert.ok(Math.abs(fill("age") - 55) < 3, `age ${fill("age")}`);
    assert.ok(Math.abs(fill("ldl") - 3.5) < 0.4, `ldl ${fill("ldl")}`);
    // The same held-out patients, complete, as each model's file: how well each model learned.
    const heldOut = patients(77, 400, ["never", "former", "current"]);
    const tableFile = join(dir, "held-out-table.csv");
    const numericFile = join(dir, "held-out-numeric.csv");
    writeFileSync(tableFile, tableCsv(heldOut, 78, 0));
    writeFileSync(numericFile, numericCsv(heldOut));
    const fromTables = await score(tables, tableFile);
    const fromNumbers = await score(numeric, numericFile);
    t.diagnostic(`held-out accuracy: tables ${fromTables.metrics.accuracy}, numeric ${fromNumbers.metrics.accuracy}`);
    assert.equal(fromTables.samples, 400);
    assert.ok(fromNumbers.metrics.accuracy > 0.85, JSON.stringify(fromNumbers));
    assert.ok(
      fromTables.metrics.accuracy >= fromNumbers.metrics.accuracy - MARGIN,
      `tables ${fromTables.metrics.accuracy} vs numeric ${fromNumbers.metrics.accuracy}`,
    );
  });

  it("evaluate scores a file with blanks and an unseen category, imputing and counting it as other", async (t) => {
    const heldOut = patients(79, 400, ["never", "former", "current", "e-cigarette"]);
    const file = join(dir, "held-out-blanks.csv");
    writeFileSync(file, tableCsv(heldOut, 80, 0.07));
    const result = await score(tables, file);
    t.diagnostic(`accuracy with 7 % blanks and an unseen category: ${result.metrics.accuracy}`);
    assert.equal(result.samples, 400);
    assert.ok(result.metrics.accuracy > 0.7, JSON.stringify(result));
  });

  it("predict applies the stored preparation to a file with an unseen category and blanks", async () => {
    const file = join(dir, "predict.csv");
    writeFileSync(file, "smoking,sex,ldl,age\ne-cigarette,M,,70\n,F,2.1,\nnever,M,5.5,40\n");
    const model = tables.events.at(-1)!.model;
    const meta = JSON.parse(readFileSync(join(model, "fbm-model.json"), "utf8"));
    assert.deepEqual(meta.preparation.columns[3].categories, ["current", "former", "never"]);
    const out = JSON.parse((await fbmResearcher("predict", "--model", model, "--data", file, "--json")).stdout);
    assert.equal(out.predictions.length, 3);
    assert.ok(
      out.predictions.every((p: number) => p >= 0 && p <= 1),
      JSON.stringify(out),
    );
  });

  it("the rare category's name reaches no message the researcher received, nor its events or files", () => {
    const received = readFileSync(trace, "utf8");
    assert.ok(received.includes('"rpc":"ReplyTask"'), "the trace recorded the nodes' replies");
    assert.ok(received.includes("former"), "the trace holds the published categories");
    const written = files(join(dir, "runs", "tables")).map((f) => readFileSync(f, "utf8"));
    for (const text of [received, JSON.stringify(tables.events), tables.stderr, ...written]) {
      assert.ok(!text.includes(RARE), `found "${RARE}"`);
    }
  });

  async function score(run: ResearcherRun, file: string) {
    const model = run.events.at(-1)!.model;
    return JSON.parse((await fbmResearcher("evaluate", "--model", model, "--data", file, "--json")).stdout);
  }

  const bad: [string, string, RegExp][] = [
    [
      "an unknown column",
      "{target: label, features: [age, bmi], categorical: onehot, impute: {numeric: mean}}",
      /The plan names column "bmi", which dataset .* does not have/,
    ],
    [
      "onehot on a numeric column",
      "{target: label, categorical: {age: onehot}, impute: {numeric: mean}}",
      /The plan one-hot encodes column "age", which holds numbers/,
    ],
  ];
  for (const [name, data, message] of bad) {
    it(`a plan with ${name} exits 2 with one line naming the column`, async () => {
      const run = await runResearcher({
        experiment: experiment(dir, `bad-${name.replaceAll(" ", "-")}`, "mixed", data),
        outDir: join(dir, "runs"),
        gate: nodes.gate,
      });
      assert.equal(run.code, 2, run.stderr);
      const lines = run.stderr.trim().split("\n");
      assert.match(lines.at(-1)!, message);
    });
  }
});
