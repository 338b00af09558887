import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, type NodeProcesses, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import type {
  AnalyzeResult,
  CoxResult,
  CrosstabResult,
  GlmResult,
  KmResult,
} from "../../src/researcher/analyze/analyze-result.js";
import { clinicalCsv, clinicalRows } from "../support/clinical-rows.js";
import { type CommandResult, runResearcherCommand } from "../support/researcher-command.js";

/** `fbm-researcher analyze FILE ARGS` on port 0, the nodes' gate opened to it once it listens. */
const analyze = (nodes: NodeProcesses, file: string, args: string[]): Promise<CommandResult> =>
  runResearcherCommand(nodes, ["analyze", file], args);

/** R's pooled fits of the same rows (see test/researcher/analyze/glm-fit.test.ts and cox-fit.test.ts for how they were made). */
const R_BINOMIAL = [-4.4768674229419103, 0.0525762620783227, 0.8882546462752419, 0.543999817351024, 1.3340295068499775];
const R_BINOMIAL_SE = [
  0.7587509099750452, 0.0117872089182146, 0.2369281472662793, 0.277440635382959, 0.2967775983639704,
];
const R_COX_EFRON_ARM = [0.0185653179765002, 0.1854577898339483, 0.4712593951654304, 0.8724488770698655];
const R_COX_EFRON_ARM_SE = [0.00618223757458024, 0.12739199869311577, 0.15231093896721723, 0.15852680026223509];

describe("fbm-researcher analyze", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-analyze-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sites = { alpha: clinicalRows(120, 11), beta: clinicalRows(90, 12), gamma: clinicalRows(150, 13) };

  it("fits the pooled GLM and Cox model exactly, pools survival and tables through each node's gate, and exits 2 on a bad event column", async () => {
    const csv = (name: keyof typeof sites) => {
      const path = join(dir, `${name}.csv`);
      writeFileSync(path, clinicalCsv(sites[name]));
      return ["--type", "csv", "--path", path, "--tags", "trial", "--target", "death", "--name", `${name}-trial`];
    };
    const homes = await prepareNodes(dir, [
      { name: "alpha", datasets: [csv("alpha")] },
      { name: "beta", datasets: [csv("beta")] },
      { name: "gamma", datasets: [csv("gamma")] },
    ]);
    const file = join(dir, "analysis.yaml");
    writeFileSync(
      file,
      [
        "tags: [trial]",
        "analyses:",
        "  - name: mortality",
        "    glm: {family: binomial, y: death, x: [age, sex, stage], categorical: onehot}",
        "  - name: survival",
        "    km: {time: days, event: event, group: arm, grid: 28}",
        "  - name: stage-by-arm",
        "    crosstab: {rows: stage, cols: arm}",
        "  - name: hazards",
        "    cox: {time: days, event: event, covariates: [age, sex, stage], categorical: {stage: onehot}, ties: efron, strata: arm}",
        "",
      ].join("\n"),
    );
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "tags: [trial]\nanalyses:\n  - km: {time: days, event: visits}\n");
    const nodes = await startNodes(homes);
    let run: Awaited<ReturnType<typeof analyze>>;
    let table: Awaited<ReturnType<typeof analyze>>;
    let badRun: Awaited<ReturnType<typeof analyze>>;
    try {
      run = await analyze(nodes, file, ["--nodes", "3", "--json"]);
      table = await analyze(nodes, file, ["--nodes", "3", "--plot", join(dir, "survival.svg")]);
      badRun = await analyze(nodes, bad, ["--nodes", "3", "--json"]);
    } finally {
      await nodes.stop();
    }

    assert.equal(run.code, 0, run.stderr);
    const results = run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AnalyzeResult);
    assert.deepEqual(
      results.map((r) => [r.event, r.name]),
      [
        ["glm", "mortality"],
        ["km", "survival"],
        ["crosstab", "stage-by-arm"],
        ["cox", "hazards"],
      ],
    );
    const near = (got: number, want: number) => Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want));

    const glm = results[0] as GlmResult;
    assert.deepEqual(
      glm.coefficients.map((c) => c.name),
      ["(Intercept)", "age", "sex", "stage=II", "stage=III"],
    );
    glm.coefficients.forEach((c, j) => {
      assert.ok(near(c.estimate, R_BINOMIAL[j]) && near(c.se, R_BINOMIAL_SE[j]), `${c.name}: ${c.estimate} ± ${c.se}`);
    });
    assert.equal(glm.n, 360);
    assert.deepEqual(
      glm.nodes.map((n) => [n.name, n.rows, n.excluded]),
      // No row left out; a count under min_count (0 included) is published as "below".
      [
        ["alpha", 120, "below"],
        ["beta", 90, "below"],
        ["gamma", 150, "below"],
      ],
    );

    const cox = results[3] as CoxResult;
    cox.coefficients.forEach((c, j) => {
      assert.ok(near(c.estimate, R_COX_EFRON_ARM[j]) && near(c.se, R_COX_EFRON_ARM_SE[j]), `${c.name}: ${c.estimate}`);
    });
    assert.deepEqual(cox.strata, ["node", "arm"]);
    assert.ok(near(cox.concordance, 0.615718157181572), `concordance ${cox.concordance} (R's fit$concordance)`);

    // Survival: every patient counted once; intervals are whole 28-day steps; each node's share of each
    // interval and arm holds min_count (10) exits or more, checked here on the raw rows.
    const km = results[1] as KmResult;
    const all = [...sites.alpha, ...sites.beta, ...sites.gamma];
    for (const curve of km.curves) {
      const rows = all.filter((r) => r[3] === curve.group);
      assert.equal(curve.n, rows.length);
      assert.equal(curve.events, rows.filter((r) => r[8] === 1).length);
      const starts = curve.steps.map((s) => s.start);
      assert.ok(starts.every((s) => s % 28 === 0) && starts[0] === 0);
      for (const site of Object.values(sites)) {
        starts.forEach((start, i) => {
          const end = curve.steps[i].end ?? Infinity;
          const exits = site.filter((r) => r[3] === curve.group && (r[7] as number) >= start && (r[7] as number) < end);
          assert.ok(exits.length >= 10, `${exits.length} exits in [${start}, ${end}) at one node`);
        });
      }
    }
    assert.ok(km.log_rank && km.log_rank.df === 1 && km.log_rank.p > 0 && km.log_rank.p < 1);

    // Crosstab: an exact cell is the true count; a withheld one is a range holding it, or "hidden".
    const tab = results[2] as CrosstabResult;
    assert.deepEqual(
      [tab.row_levels, tab.col_levels],
      [
        ["I", "II", "III"],
        ["A", "B"],
      ],
    );
    tab.row_levels.forEach((stage, i) => {
      tab.col_levels.forEach((arm, j) => {
        const truth = all.filter((r) => r[2] === stage && r[3] === arm).length;
        const cell = tab.cells[i][j];
        if (typeof cell === "number") assert.equal(cell, truth);
        else if (cell !== "hidden") {
          const [lo, hi] = cell.split("-").map(Number);
          assert.ok(lo <= truth && truth <= hi, `${cell} for ${truth}`);
        }
      });
    });

    // The terminal table: coefficients with CIs and stars, the survival table, the log-rank test.
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stderr, /mortality: binomial GLM of death, 360 rows/);
    assert.match(table.stderr, /stage=III\s+1\.3340\s+0\.7524 to 1\.9157\s+0\.2968\s+4\.4950\s+<0\.0001\s+\*\*\*/);
    assert.match(table.stderr, /log-rank test: chi-square [\d.]+ on 1 df/);
    assert.match(table.stderr, /hazards: Cox model \(efron ties, strata: node, arm\)/);
    // --plot: the curves, one per arm, with the numbers at risk of the table under them.
    const svg = readFileSync(join(dir, "survival.svg"), "utf8");
    assert.match(table.stderr, /Kaplan–Meier curves of "survival" written to .*survival\.svg/);
    assert.equal(svg.match(/<path d="M/g)?.length, 2 + svg.split("stroke-dasharray").length - 1);
    for (const curve of km.curves)
      for (const step of curve.steps) assert.ok(svg.includes(`>${step.at_risk}</text>`), `at risk ${step.at_risk}`);

    // Each node logs every query it answered.
    for (const home of homes)
      assert.match(nodes.logs[home], /Clinical glm query mortality-\w+ for "analyze" on "\w+-trial": \d+ rows/);

    assert.equal(badRun.code, 2, badRun.stderr);
    const last = JSON.parse(badRun.stdout.trim().split("\n").at(-1) ?? "");
    assert.equal(last.event, "error");
    assert.match(
      last.message,
      /^Node \w+ refused the km_cuts query \(invalid_input\): Column "visits" holds "\d+" in dataset "\w+-trial": an event column holds 1 \(event\) or 0 \(censored\)$/,
    );
    assert.doesNotMatch(badRun.stderr, /\n\s+at /, "no stack trace");
  });
});
