import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, type NodeProcesses, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import { createRng } from "../../src/ml/rng.js";
import { fineIndex } from "../../src/ml/stats/histogram-grid.js";
import { gridCell, gridStep } from "../../src/node/analytics/node-grid.js";
import { FINE_BINS } from "../../src/researcher/stats/agree-grid.js";
import type { StatsResult } from "../../src/researcher/stats/stats-result.js";
import { printedNumbers } from "../support/printed-numbers.js";
import { type CommandResult, runResearcherCommand } from "../support/researcher-command.js";

/** Rows of age (4 decimals), ldl (3 decimals) and a 0/1 label, different at each site. */
function siteRows(rows: number, seed: number): number[][] {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: rows }, () => [
    Number((50 + seed * 3 + 12 * gauss()).toFixed(4)),
    Number((130 + 35 * gauss()).toFixed(3)),
    rng.next() < 0.4 ? 1 : 0,
  ]);
}

/**
 * Extra columns of a site's rows: `smoker` (0/1; `rareOnes` rows of 1 only, when given) and `sex`, a text
 * column with `rare` rows of a category held by fewer than min_count rows.
 */
function extraColumns(rows: number, seed: number, options: { rareOnes?: number; rare: number }): [number, string][] {
  const rng = createRng(seed + 100);
  return Array.from({ length: rows }, (_, i) => [
    options.rareOnes === undefined ? (rng.next() < 0.3 ? 1 : 0) : i < options.rareOnes ? 1 : 0,
    i < options.rare ? "rarecat" : i % 2 ? "F" : "M",
  ]);
}

/** `fbm-researcher stats ARGS` on port 0, the nodes' gate opened to it once it listens. */
const stats = (nodes: NodeProcesses, args: string[]): Promise<CommandResult> =>
  runResearcherCommand(nodes, ["stats"], args);

/** pandas' default quantile. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const r = Math.floor(h);
  return r + 1 < sorted.length ? sorted[r] + (h - r) * (sorted[r + 1] - sorted[r]) : sorted[r];
}

/** [lo, hi] of a printed count: 12, "<10", ">=10", "12-30". */
function bounds(count: number | string): [number, number] {
  if (typeof count === "number") return [count, count];
  if (count === "hidden") return [0, Infinity];
  if (count.startsWith("<")) return [0, Number(count.slice(1)) - 1];
  if (count.startsWith(">=")) return [Number(count.slice(2)), Infinity];
  const [lo, hi] = count.split("-").map(Number);
  return [lo, hi];
}

describe("fbm-researcher stats", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-stats-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const data = { alpha: siteRows(150, 1), beta: siteRows(120, 2), gamma: siteRows(6, 3) };
  // alpha: smokers common, 3 rows of a rare sex category; beta: 4 smokers only, no rare category.
  const extra = {
    alpha: extraColumns(150, 1, { rare: 3 }),
    beta: extraColumns(120, 2, { rareOnes: 4, rare: 0 }),
    gamma: extraColumns(6, 3, { rare: 0 }),
  };

  it("pools exact statistics from real nodes, tells nothing a node's limits forbid, and exits 2 naming a bad column", async () => {
    const csv = (name: keyof typeof data) => {
      const path = join(dir, `${name}.csv`);
      const lines = data[name].map((r, i) => [...r, ...extra[name][i]].join(","));
      writeFileSync(path, `${["age,ldl,label,smoker,sex", ...lines].join("\n")}\n`);
      return ["--type", "csv", "--path", path, "--tags", "heart", "--target", "label", "--name", `${name}-heart`];
    };
    const homes = await prepareNodes(dir, [
      { name: "alpha", datasets: [csv("alpha")], config: [["stats_minmax", "true"]] },
      { name: "beta", datasets: [csv("beta")] },
      { name: "gamma", datasets: [csv("gamma")] },
    ]);
    const nodes = await startNodes(homes);
    let run: Awaited<ReturnType<typeof stats>>;
    let badColumn: Awaited<ReturnType<typeof stats>>;
    try {
      run = await stats(nodes, [
        "--tags",
        "heart",
        "--nodes",
        "3",
        "--quantiles",
        "0.1,0.5,0.9",
        "--bins",
        "8",
        "--json",
      ]);
      badColumn = await stats(nodes, ["--tags", "heart", "--nodes", "3", "--columns", "age,agee", "--json"]);
    } finally {
      await nodes.stop();
    }

    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "one JSON object, nothing else, on stdout");
    const result = JSON.parse(lines[0]) as StatsResult;
    assert.equal(result.event, "stats");
    assert.deepEqual(
      result.nodes.map((n) => [n.name, n.dataset, n.min_count]),
      [
        ["alpha", "alpha-heart", 10],
        ["beta", "beta-heart", 10],
        ["gamma", "gamma-heart", 10],
      ],
    );
    assert.deepEqual(
      [result.nodes[2].size, result.nodes[2].columns],
      ["<10", {}],
      "a dataset below min_count tells only that",
    );

    const pooledRows = [...data.alpha, ...data.beta];
    for (const [c, name] of ["age", "ldl"].entries()) {
      const values = pooledRows.map((r) => r[c]);
      const sorted = [...values].sort((a, b) => a - b);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
      const p = result.pooled[name];
      const near = (got: number | null | undefined, want: number) => Math.abs(got! - want) <= 1e-9 * Math.abs(want);
      assert.equal(p.count, 270);
      assert.ok(
        near(p.mean, mean) && near(p.var, variance) && near(p.std, Math.sqrt(variance)) && near(p.sum, mean * 270),
        JSON.stringify(p),
      );
      // beta keeps stats_minmax false: the pooled extremes are rounded outward, within one grid step.
      assert.ok(
        p.minmax_grid! > 0 && p.min! <= sorted[0] && sorted[0] < p.min! + p.minmax_grid!,
        `min ${p.min} for ${sorted[0]}`,
      );
      assert.ok(
        p.max! > sorted.at(-1)! && sorted.at(-1)! >= p.max! - p.minmax_grid!,
        `max ${p.max} for ${sorted.at(-1)}`,
      );
      for (const q of [0.1, 0.5, 0.9]) {
        const got = p.quantiles![String(q)];
        assert.ok(
          Math.abs(got - quantile(sorted, q)) <= p.quantile_error! * (1 + 1e-9),
          `${name} q${q}: ${got} vs ${quantile(sorted, q)} ± ${p.quantile_error}`,
        );
      }
      const { edges, counts } = p.histogram!;
      assert.equal(counts.length, 8);
      const grid = { lo: edges[0], hi: edges.at(-1)!, bins: 8, fine: Math.ceil(FINE_BINS / 8) };
      // Nodes count each value at the middle of its cell on their own grid (node-grid.ts).
      const truth = new Array(8).fill(0);
      for (const rows of [data.alpha, data.beta]) {
        const own = rows.map((r) => r[c]);
        const step = gridStep(Math.min(...own), Math.max(...own));
        for (const v of own) {
          const at = Math.min(grid.hi, Math.max(grid.lo, gridCell(v, step).mid));
          truth[Math.floor(fineIndex(grid, at) / grid.fine)]++;
        }
      }
      counts.forEach((count, j) => {
        const [lo, hi] = bounds(count);
        assert.ok(lo <= truth[j] && truth[j] <= hi, `${name} bin ${j}: ${truth[j]} not in ${count}`);
      });
      // No node sent a count from 1 to 9.
      for (const node of result.nodes.slice(0, 2)) {
        for (const count of node.columns[name].histogram!.counts)
          assert.ok(typeof count === "string" || count === 0 || count >= 10, `${node.name}: ${count}`);
      }
    }
    const ones = pooledRows.filter((r) => r[2] === 1).length;
    assert.deepEqual(result.pooled.label.classes, { 0: 270 - ones, 1: ones });

    // 0/1 columns: counts of 0 and 1 instead of quantiles over a rounded range. alpha's are exact, with
    // the mean (their share of 1); beta's 4 smokers are fewer than min_count: both counts hidden, no mean.
    const alphaSmokers = extra.alpha.filter(([smoker]) => smoker === 1).length;
    const alpha = result.nodes[0].columns;
    const beta = result.nodes[1].columns;
    assert.deepEqual(alpha.smoker.classes, { 0: 150 - alphaSmokers, 1: alphaSmokers });
    assert.ok(Math.abs(alpha.smoker.mean! - alphaSmokers / 150) < 1e-12, JSON.stringify(alpha.smoker));
    assert.deepEqual([alpha.smoker.min, alpha.smoker.max, alpha.smoker.histogram], [0, 1, undefined]);
    // Its quantiles follow from the counts, exactly (no histogram over a range rounded outward).
    const alphaSorted = extra.alpha.map(([smoker]) => smoker).sort((a, b) => a - b);
    assert.deepEqual(alpha.smoker.quantiles, {
      0.1: quantile(alphaSorted, 0.1),
      0.5: quantile(alphaSorted, 0.5),
      0.9: quantile(alphaSorted, 0.9),
    });
    assert.equal(alpha.smoker.quantile_error, 0);
    assert.deepEqual(beta.smoker, { count: 120, missing: "<10", classes: { 0: "hidden", 1: "hidden" } });
    const smoker = result.pooled.smoker;
    assert.equal(smoker.mean, undefined, "no pooled mean of alpha alone");
    // Pooled, beta's hidden counts leave only the quantiles they cannot move: q0.1 is 0, q0.9 is 1.
    assert.deepEqual(smoker.quantiles, { 0.1: 0, 0.9: 1 });
    const [onesLo, onesHi] = bounds(smoker.classes![1]);
    assert.ok(
      onesLo <= alphaSmokers + 4 && alphaSmokers + 4 <= onesHi && onesLo === alphaSmokers,
      `${smoker.classes![1]}`,
    );
    // Text columns: category counts. alpha's 3 rows of "rarecat" are never named, and secondary
    // suppression leaves out its smallest named category too (M: 73 against F: 74), as its profile does.
    // Pooled, alpha's unnamed M is anything up to what its F leaves of its 150 rows.
    assert.deepEqual(alpha.sex, { count: 150, missing: "<10", classes: { F: 74 } });
    assert.deepEqual(beta.sex, { count: 120, missing: "<10", classes: { F: 60, M: 60 } });
    assert.deepEqual(result.pooled.sex.classes, { F: 134, M: "60-136" });
    assert.ok(!run.stdout.includes("rarecat"), "a rare category's name stays on its node");

    // No row-level value: no age or ldl of beta or gamma (which keep stats_minmax false) anywhere in the output.
    const printed = printedNumbers(run.stdout);
    const secret = [...data.beta, ...data.gamma].flatMap((r) => r.slice(0, 2));
    assert.deepEqual(
      secret.filter((v) => printed.has(v)),
      [],
    );

    // Each node logs the queries it answered, like a training task.
    const log = (name: string) => nodes.logs[homes[["alpha", "beta", "gamma"].indexOf(name)]];
    for (const name of ["alpha", "beta"]) {
      assert.match(log(name), /Statistics \(summary\) for "stats" on "\w+-heart": 5 column\(s\), \d+ rows/);
      // Counts, not histograms, for the 0/1 and text columns (label, smoker, sex).
      assert.match(log(name), /Statistics \(histogram\) for "stats" on "\w+-heart": 2 histogram\(s\)/);
    }
    assert.match(log("gamma"), /fewer rows than min_count 10, answered with that alone/);

    assert.equal(badColumn.code, 2, badColumn.stderr);
    // With --json the error is also the last line on stdout, as an `error` event.
    assert.deepEqual(JSON.parse(badColumn.stdout.trim().split("\n").at(-1) ?? ""), {
      event: "error",
      message:
        'Cannot compute statistics: column "agee" is not in dataset "alpha-heart" on node alpha; columns: age, ldl, label, smoker, sex',
      exit: 2,
    });
    assert.equal(
      badColumn.stderr.trim().split("\n").at(-1),
      'Error: Cannot compute statistics: column "agee" is not in dataset "alpha-heart" on node alpha; columns: age, ldl, label, smoker, sex',
    );
  });
});
