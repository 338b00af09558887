import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { commandLine, DEADLINE_MS, fbmNode, nodeBin, stopAll } from "../../scripts/lib/federation.js";
import { createGate, type Gate } from "../../scripts/lib/gate.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { homePaths } from "../../src/node/config/home.js";
import { createPrivacyLedger } from "../../src/node/privacy/privacy-ledger.js";
import { computeRdp } from "../../src/privacy/dp/rdp.js";
import { launchBrowser } from "../support/browser.js";
import { nodeCli } from "../support/cli.js";
import { until } from "../support/wait.js";

/**
 * Privacy budgets in the GUI, served by `fbm-node serve --gui` (one process: the node and its GUI), in
 * headless Chromium: ε spent read from the ledger, a budget set and cleared through the form with the
 * CLI's check. The node is pointed at a loopback gate with no researcher behind it, so it serves and
 * waits; the ledger is charged with its own API, as `serve` charges it after a DP round.
 */
describe("privacy budgets in the GUI of `fbm-node serve --gui`", { timeout: 2 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-gui-budget-"));
  const home = join(dir, "site-dp");
  let gate: Gate;
  let serve: ChildProcess;
  let log = "";
  let url = "";
  let browser: Browser;
  let page: Page;
  const datasets: { id: string; name: string; sha256: string }[] = [];
  let spent = 0;

  before(async () => {
    await fbmNode("--home", home, "init", "--name", "site-dp");
    for (const name of ["charged", "fresh"]) {
      const csv = join(dir, `${name}.csv`);
      writeTabularCsv(csv, { rows: 40, seed: datasets.length + 1, features: 2, noise: 0 });
      await fbmNode("--home", home, "dataset", "add", "--type", "csv", "--path", csv, "--tags", name, "--name", name);
      datasets.push(JSON.parse((await fbmNode("--home", home, "--json", "dataset", "list")).stdout).at(-1));
    }
    const ledger = await createPrivacyLedger({ path: homePaths(home).privacy });
    ({ datasetEpsilon: spent } = await ledger.charge({
      sha256: datasets[0].sha256,
      datasetId: datasets[0].id,
      datasetName: datasets[0].name,
      experiment: "dp-study",
      round: 1,
      rdp: computeRdp({ q: 0.1, noiseMultiplier: 1.1, steps: 40 }),
      delta: 1e-5,
      budgetDelta: 1e-5,
    }));
    await ledger.close();

    gate = await createGate();
    const args = ["--home", home, "serve", "--researcher", `http://127.0.0.1:${gate.port}`];
    serve = spawn(...commandLine(nodeBin, [...args, "--gui", "--gui-listen", "127.0.0.1:0"]), {
      stdio: ["ignore", "ignore", "pipe"],
    });
    serve.stderr!.on("data", (d) => (log += d));
    let exited = false;
    serve.once("exit", () => (exited = true));
    await until(() => exited || /Ready: serving/.test(log), "serve --gui to be ready", DEADLINE_MS);
    url = /GUI listening on (http\S+)/.exec(log)?.[1] ?? "";
    assert.ok(url, `no GUI URL in serve's log:\n${log}`);
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    if (serve) await stopAll([serve]);
    await gate?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const text = async (selector: string) => ((await page.textContent(selector)) ?? "").trim();

  it("shows each dataset's budget, the ε its ledger has spent and what is left", async () => {
    await page.goto(url);
    // The GUI runs in the serving process: it sees that process alive.
    await page.waitForFunction(() => /Serve: running/.test(document.querySelector("#serve-state")?.textContent ?? ""));
    const [charged, fresh] = datasets;
    await page.waitForSelector(`[data-spent-of="${charged.id}"]`);
    assert.ok(spent > 0);
    assert.equal(await text(`[data-spent-of="${charged.id}"]`), spent.toFixed(3));
    assert.notEqual(spent.toFixed(3), "0.000");
    assert.equal(await text(`[data-spent-of="${fresh.id}"]`), "0.000");
    assert.equal(await text(`[data-budget-of="${charged.id}"]`), "none");
    assert.equal(await text(`[data-left-of="${charged.id}"]`), "-");
  });

  it("sets a budget through the form (a bad one refused with the CLI's message), then clears it", async () => {
    const [charged, fresh] = datasets;
    const input = `[data-budget-input="${charged.id}"]`;
    const submit = `[data-budget-form="${charged.id}"] button[type=submit]`;

    const catalogue = readFileSync(homePaths(home).catalogue, "utf8");
    const alert = new Promise<string>((done) =>
      page.once("dialog", (dialog) => {
        done(dialog.message());
        void dialog.accept();
      }),
    );
    await page.fill(input, "lots");
    await page.click(submit);
    const cli = await nodeCli("--home", home, "dataset", "set", charged.id, "max_epsilon", "lots");
    assert.deepEqual([cli.code, cli.stderr], [2, `Error: ${await alert}\n`]);
    assert.equal(readFileSync(homePaths(home).catalogue, "utf8"), catalogue, "nothing written");

    await page.fill(input, "5");
    await page.click(submit);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-budget-of="${id}"]`)?.textContent === "5 (dataset)",
      charged.id,
    );
    assert.equal(await text(`[data-left-of="${charged.id}"]`), (5 - spent).toFixed(3));
    const shown = JSON.parse((await fbmNode("--home", home, "--json", "dataset", "show", charged.id)).stdout);
    assert.deepEqual([shown.maxEpsilon, shown.privacy.left.toFixed(3)], [5, (5 - spent).toFixed(3)]);

    // The node-wide max_epsilon, set with the CLI, shows up live for the dataset without its own.
    await fbmNode("--home", home, "config", "set", "max_epsilon", "2");
    await page.waitForFunction(
      (id) => document.querySelector(`[data-budget-of="${id}"]`)?.textContent === "2 (node)",
      fresh.id,
    );
    assert.equal(await text(`[data-left-of="${fresh.id}"]`), "2.000");

    await page.click(`[data-budget-clear="${charged.id}"]`);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-budget-of="${id}"]`)?.textContent === "2 (node)",
      charged.id,
    );
    assert.equal(await text(`[data-left-of="${charged.id}"]`), Math.max(0, 2 - spent).toFixed(3));
    const listed = JSON.parse((await fbmNode("--home", home, "--json", "dataset", "list")).stdout);
    assert.equal(listed[0].maxEpsilon, undefined);
  });
});
