import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import {
  commandLine,
  DEADLINE_MS,
  fbmNode,
  type NodeProcesses,
  nodeBin,
  runResearcher,
  startNodes,
  stopAll,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { planId } from "../../src/ml/plan.js";
import { parseExperiment } from "../../src/researcher/run/config.js";
import { launchBrowser } from "../support/browser.js";
import { until } from "../support/wait.js";

/** Starts `fbm-node gui` on port 0 and resolves with the URL (with token) it printed. */
async function startGui(home: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(...commandLine(nodeBin, ["--home", home, "gui", "--listen", "127.0.0.1:0"]), {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  let exited = false;
  child.once("exit", () => (exited = true));
  await until(() => exited || /GUI listening on http\S+/.test(log), "the GUI to listen", DEADLINE_MS);
  const url = /GUI listening on (http\S+)/.exec(log)?.[1];
  assert.ok(url, `no URL in the GUI's log:\n${log}`);
  return { child, url, log: () => log };
}

/**
 * The hospital operator's side through a real browser (headless Chromium): a dataset added through the
 * GUI's form, a plan a researcher asked for approved with its button, and the node then training it —
 * with the GUI, `fbm-node serve` and the researcher as separate processes sharing the node home.
 */
describe("fbm-node gui in a browser, with a serving node and a researcher", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-gui-"));
  const home = join(dir, "site-gui");
  const csv = join(dir, "cohort.csv");
  const experiment = join(dir, "gui.yaml");
  let gui: Awaited<ReturnType<typeof startGui>>;
  let browser: Browser;
  let nodes: NodeProcesses | undefined;

  const yaml = [
    "name: gui-approval",
    "tags: [gui-e2e]",
    "rounds: 1",
    "nodes: {min: 1, wait: 10m}",
    "plan:",
    "  data: {target: label}",
    "  model: [{dense: {units: 4, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.1}",
    "training: {epochs: 1, batch_size: 16, test_ratio: 0.25, seed: 1}",
  ].join("\n");
  before(async () => {
    await fbmNode("--home", home, "init", "--name", "site-gui");
    writeTabularCsv(csv, { rows: 60, seed: 2, features: 3, noise: 0 });
    writeFileSync(experiment, yaml);
    gui = await startGui(home);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await nodes?.stop();
    if (gui) await stopAll([gui.child]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses every request without the token, and changes without the token header (CSRF)", async () => {
    const base = new URL(gui.url);
    const token = base.searchParams.get("token")!;
    const origin = base.origin;
    for (const path of ["/", "/api/state"]) assert.equal((await fetch(`${origin}${path}`)).status, 401, path);
    assert.equal((await fetch(`${origin}/api/state?token=wrong`)).status, 401);
    const cookie = { cookie: `fbm_gui_token=${token}` };
    assert.equal((await fetch(`${origin}/api/state`, { headers: cookie })).status, 200);
    const post = await fetch(`${origin}/api/datasets`, {
      method: "POST",
      headers: cookie,
      body: JSON.stringify({ type: "csv", path: csv, tags: "csrf" }),
    });
    assert.equal(post.status, 401, "a cookie alone must not change anything");
    assert.deepEqual(JSON.parse((await fbmNode("--home", home, "dataset", "list", "--json")).stdout), []);
    // A page of another site that the browser reaches on this port by DNS rebinding names its own host.
    const rebound = await new Promise<number | undefined>((done, fail) =>
      request(`${origin}/api/state`, { headers: { ...cookie, host: `evil.example:${base.port}` } }, (res) => {
        res.resume();
        done(res.statusCode);
      })
        .on("error", fail)
        .end(),
    );
    assert.equal(rebound, 403);
  });

  it("adds a dataset through the form (same validation as the CLI), approves the plan, and the node trains it", async () => {
    const page = await browser.newPage();
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(gui.url);
    assert.equal(new URL(page.url()).search, "", "the token leaves the address bar for a cookie");
    // Before any `serve`, "Now" says so (status.json absent is drawn too, not left blank).
    await page.waitForFunction(() => /has not served yet/.test(document.querySelector("#status")?.textContent ?? ""));

    // A bad path is refused with the CLI's message, and nothing is registered.
    await page.fill("#add-dataset input[name=path]", join(dir, "missing.csv"));
    await page.fill("#add-dataset input[name=tags]", "gui-e2e");
    await page.click("#add-dataset button[type=submit]");
    await page.waitForSelector("#add-result.error");
    assert.match((await page.textContent("#add-result")) ?? "", /does not exist/);

    await page.selectOption("#add-dataset select[name=type]", "csv");
    await page.fill("#add-dataset input[name=path]", csv);
    await page.fill("#add-dataset input[name=tags]", "gui-e2e");
    await page.fill("#add-dataset input[name=name]", "cohort-a");
    await page.fill("#add-dataset input[name=target]", "label");
    await page.click("#add-dataset button[type=submit]");
    await page.waitForSelector("#add-result.ok");
    const [entry] = JSON.parse((await fbmNode("--home", home, "dataset", "list", "--json")).stdout);
    assert.deepEqual([entry.name, entry.tags, entry.target, entry.sampleCount], ["cohort-a", ["gui-e2e"], "label", 60]);
    await page.waitForSelector(`[data-dataset="${entry.id}"]`);

    // Preview: first rows and column statistics.
    await page.click(`[data-dataset="${entry.id}"] button:text("Preview")`);
    await page.waitForSelector("#preview h4");
    const previewText = (await page.textContent("#preview")) ?? "";
    assert.match(previewText, /Column statistics/);
    assert.match(previewText, /label/);

    nodes = await startNodes([home]);
    const id = planId(parseExperiment(yaml, "gui.yaml").plan);
    const run = runResearcher({ experiment, outDir: join(dir, "runs"), gate: nodes.gate });
    // The researcher asks; the plan shows as pending in the GUI; the operator clicks Approve.
    const approve = await page.waitForSelector(`[data-approve="${id}"]`, { timeout: DEADLINE_MS });
    assert.match((await page.textContent(`[data-plan="${id}"]`)) ?? "", /pending/);
    assert.match(
      (await page.textContent(`[data-plan="${id}"]`)) ?? "",
      /dense#1: dense ← input, units 4, activation relu/,
    );
    assert.match((await page.textContent(`[data-plan="${id}"]`)) ?? "", /\b21 on cohort-a/, "3·4+4 + 4·1+1 parameters");
    await approve.click();
    await page.waitForSelector(`[data-plan="${id}"] .approved`);

    const result = await run;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.events.at(-1)?.event, "done");
    assert.equal(result.events.filter((e) => e.event === "round").length, 1);
    const [plan] = JSON.parse((await fbmNode("--home", home, "plan", "list", "--json")).stdout);
    assert.deepEqual([plan.id, plan.status], [id, "approved"]);

    // What the node did shows in the GUI, from `serve`'s status.json.
    await page.waitForFunction(() => /ok/.test(document.querySelector("#recent")?.textContent ?? ""), undefined, {
      timeout: DEADLINE_MS,
    });
    assert.match((await page.textContent("#recent")) ?? "", /train\s*gui-approval/);

    // A change made with the CLI shows up in the open page without a reload.
    await fbmNode("--home", home, "dataset", "rm", entry.id);
    await page.waitForSelector(`[data-dataset="${entry.id}"]`, { state: "detached", timeout: DEADLINE_MS });
  });
});
