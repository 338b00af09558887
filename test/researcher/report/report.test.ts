import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { reportHtml } from "../../../src/researcher/report/report-html.js";
import { launchBrowser } from "../../support/browser.js";
import { researcherCli } from "../../support/cli.js";

/** A run folder as a three-round run leaves it, with one failure and privacy figures. */
function runFolder(): string {
  const root = mkdtempSync(join(tmpdir(), "fbm-report-"));
  const dir = join(root, "heart");
  mkdirSync(dir);
  const rounds = [1, 2, 3].map((r) => ({
    event: "round",
    round: r,
    rounds: 3,
    nodes: [
      {
        node: "node_a",
        name: "hospital-a",
        samples: 120,
        loss: 0.7 / r,
        seconds: 1.5,
        global: { accuracy: 0.5 + r / 10, auc: 0.6 + r / 20 },
        privacy: { epsilon: 0.8 * r, delta: 1e-5 },
      },
      ...(r === 2
        ? []
        : [
            {
              node: "node_b",
              name: "hospital-<b>",
              samples: 80,
              loss: 0.6 / r,
              seconds: 2,
              global: { accuracy: 0.55 + r / 12, auc: 0.7 },
              privacy: { epsilon: 0.7 * r, delta: 1e-5 },
            },
          ]),
    ],
    failed: r === 2 ? [{ node: "node_b", name: "hospital-<b>", code: "timeout", message: "no reply in 10 s" }] : [],
    loss: 0.66 / r,
    metrics: { global: { accuracy: 0.52 + r / 11, auc: 0.65 + r / 25 } },
    auc_error: { global: 0.002 },
    privacy: { epsilon: 0.8 * r, delta: 1e-5 },
    seconds: 3,
    time: 1_700_000_000 + r,
  }));
  writeFileSync(join(dir, "history.jsonl"), rounds.map((l) => `${JSON.stringify(l)}\n`).join(""));
  writeFileSync(
    join(dir, "experiment.json"),
    JSON.stringify({
      name: "heart",
      tags: ["heart"],
      rounds: 3,
      nodes: { min: 2, waitMs: 60_000, sample: 1, roundTimeoutMs: 600_000, onFailure: "stop" },
      plan: { data: { target: "y" }, model: [{ conv2d: { filters: 4, kernelSize: 3 } }] },
      training: { epochs: 1, updates: 0, batchSize: 32, testRatio: 0.2, testOnGlobal: true, testOnLocal: false },
      aggregator: { name: "fedadam", serverLr: 0.01 },
      dp: { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 },
    }),
  );
  writeFileSync(
    join(dir, "done.json"),
    JSON.stringify({
      event: "done",
      rounds: 3,
      metrics: { accuracy: 0.81 },
      privacy: { mode: "local", epsilon: 2.4, delta: 1e-5 },
    }),
  );
  return dir;
}

describe("fbm-researcher report", () => {
  it("writes one HTML file that headless Chromium draws from history.jsonl, fetching nothing", async (t) => {
    const dir = runFolder();
    t.after(() => rmSync(join(dir, ".."), { recursive: true, force: true }));
    const out = join(dir, "..", "report.html");
    const result = await researcherCli("report", dir, "--out", out, "--json");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { report: out, rounds: 3 });

    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(out).href);
    assert.deepEqual(requests, [pathToFileURL(out).href]);

    // Every chart's polylines, mapped back from pixels to (round, value) with the chart's own axes.
    const charts = await page.$$eval("svg.chart", (svgs) =>
      svgs.map((svg) => {
        const [x0, x1] = (svg.getAttribute("data-x") ?? "").split(" ").map(Number);
        const [y0, y1] = (svg.getAttribute("data-y") ?? "").split(" ").map(Number);
        const [left, top, width, height] = (svg.getAttribute("data-plot") ?? "").split(" ").map(Number);
        return {
          metric: svg.getAttribute("data-metric"),
          series: [...svg.querySelectorAll("g.series")].map((g) => {
            const line = g.querySelector("polyline") as SVGPolylineElement;
            return {
              name: g.getAttribute("data-series"),
              drawnWidth: line.getBBox().width,
              points: [...line.points].map((p) => [
                x0 + ((p.x - left) / width) * (x1 - x0),
                y0 + (1 - (p.y - top) / height) * (y1 - y0),
              ]),
            };
          }),
        };
      }),
    );
    const history = readFileSync(join(dir, "history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const expected = (metric: string, series: string) =>
      history.flatMap((e) => {
        const source = series === "pooled" ? e : e.nodes.find((n: { name: string }) => n.name === series);
        const [when, key] = metric.split("/");
        const value =
          metric === "loss"
            ? source?.loss
            : when === "privacy"
              ? series === "largest over nodes"
                ? e.privacy[key]
                : source?.privacy?.[key]
              : series === "pooled"
                ? e.metrics[when]?.[key]
                : source?.[when]?.[key];
        return typeof value === "number" ? [[e.round, value]] : [];
      });
    assert.deepEqual(
      charts.map((c) => c.metric),
      ["loss", "global/accuracy", "global/auc", "privacy/epsilon"],
    );
    for (const chart of charts) {
      const names = chart.series.map((s) => s.name);
      assert.deepEqual(names, [
        chart.metric?.startsWith("privacy") ? "largest over nodes" : "pooled",
        "hospital-<b>",
        "hospital-a",
      ]);
      for (const s of chart.series) {
        const want = expected(chart.metric as string, s.name as string);
        assert.equal(s.points.length, want.length, `${chart.metric} ${s.name}`);
        s.points.forEach(([x, y], i) => {
          assert.ok(
            Math.abs(x - want[i][0]) < 1e-3 && Math.abs(y - want[i][1]) < 1e-3 * Math.max(1, Math.abs(want[i][1])),
            `${chart.metric} ${s.name} point ${i}: ${[x, y]} vs ${want[i]}`,
          );
        });
        if (s.points.length > 1) assert.ok(s.drawnWidth > 0);
      }
    }

    const nodes = await page.$$eval("table.nodes tr[data-node]", (rows) =>
      rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
    );
    assert.deepEqual(nodes, [
      ["hospital-<b>", "node_b", "80", "2", "1", "4.0"],
      ["hospital-a", "node_a", "120", "3", "0", "4.5"],
    ]);
    // The experiment block in experiment.yaml's spelling, not the parsed config's.
    const config = (await page.textContent("#config")) ?? "";
    for (const line of ["wait: 60s", "round_timeout: 10m", "on_failure: stop", "batch_size: 32", "test_ratio: 0.2"])
      assert.ok(config.includes(line), `${line} in\n${config}`);
    assert.match(config, /test_on:\n\s+- global\n/);
    assert.match(config, /server_lr: 0\.01/);
    assert.match(config, /max_grad_norm: 1\n/);
    assert.match(config, /kernelSize: 3/, "the plan stays as written");
    assert.doesNotMatch(config, /waitMs|batchSize|testOnGlobal|clipNorm|serverLr/);
    assert.equal(
      await page.textContent("#privacy + p"),
      "Whole run: ε 2.4, δ 1e-5, local dp (ε: the largest over the nodes)",
    );
    // Per-node ε beside the run's, every figure rounded (0.7 × 3 is 2.0999999999999996 in floating point).
    const privacyRows = await page.$$eval("table.privacy tr", (rows) =>
      rows.map((r) => [...r.querySelectorAll("th, td")].map((c) => c.textContent)),
    );
    assert.deepEqual(privacyRows, [
      ["round", "ε (largest over nodes)", "δ", "ε hospital-<b>", "ε hospital-a"],
      ["1", "0.8", "1e-5", "0.7", "0.8"],
      ["2", "1.6", "1e-5", "", "1.6"],
      ["3", "2.4", "1e-5", "2.1", "2.4"],
    ]);
    // Axis ticks are round numbers (steps of 1, 2 or 5 × 10^k).
    const ticks = await page.$$eval("svg.chart text[text-anchor=end]", (els) => els.map((e) => e.textContent ?? ""));
    assert.ok(ticks.length > 0);
    for (const tick of ticks) assert.match(tick, /^-?\d+(\.\d{1,2})?$/, `tick ${tick}`);
  });

  it("leaves out a last line torn by a crash, and refuses a broken line before it (exit 2)", async (t) => {
    const dir = runFolder();
    t.after(() => rmSync(join(dir, ".."), { recursive: true, force: true }));
    const history = join(dir, "history.jsonl");
    const whole = readFileSync(history, "utf8");
    writeFileSync(history, `${whole}{"event":"round","rou`);
    const torn = await researcherCli("report", dir, "--json");
    assert.equal(torn.code, 0, torn.stderr);
    assert.equal(JSON.parse(torn.stdout).rounds, 3);
    writeFileSync(history, `{"event":"round","rou\n${whole}`);
    const broken = await researcherCli("report", dir, "--json");
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /line 1 is not JSON/);
  });

  it("says what is missing when the folder holds no run (exit 2)", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "fbm-report-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const result = await researcherCli("report", dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /has no history\.jsonl/);
  });

  it("calls a widely bounded pooled auc an estimate in the headline", () => {
    const base = { name: "r", rounds: 1, curves: [], nodes: [], failures: [], privacy: [] };
    const wide = reportHtml({ ...base, done: { metrics: { auc: 0.9939 }, auc_error: 0.19 } });
    assert.match(wide, /auc is an estimate, known only within ±0\.19/);
    const narrow = reportHtml({ ...base, done: { metrics: { auc: 0.9939 }, auc_error: 0.01 } });
    assert.match(narrow, /\(auc within ±0\.010\)/);
  });
});
