import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { homePaths, initHome } from "../../../src/node/config/home.js";
import { type GuiServer, startGuiServer } from "../../../src/node/gui/server.js";
import { createPlanRegistry } from "../../../src/node/plans/plan-registry.js";
import { watchCancelRequests } from "../../../src/node/serve/cancel-request.js";
import type { NodeStatus } from "../../../src/node/serve/node-status.js";
import { createRunningTask, TaskCancelled } from "../../../src/node/serve/task-cancel.js";
import { launchBrowser } from "../../support/browser.js";
import { nodeCli } from "../../support/cli.js";
import { datasetAdd } from "../../support/dataset-add.js";

const plan = (units: number) =>
  JSON.stringify({
    data: { target: "y", normalize: "standard", impute: { numeric: "mean" } },
    model: [{ dense: { units, activation: "relu" } }, { dense: { units: 1 } }],
    loss: "meanSquaredError",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  });
const ids = { approved: "aa".repeat(32), rejected: "bb".repeat(32), pending: "cc".repeat(32) };
/** `dataset add --json` outputs of the datasets previewed. */
const previewIds = { table: "", idx: "" };

/** An IDX file of unsigned bytes: magic, big-endian dimensions, then the values. */
function writeIdx(path: string, magic: number, dims: number[], values: number[]): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  for (const [i, d] of dims.entries()) header.writeUInt32BE(d, 4 + 4 * i);
  writeFileSync(path, Buffer.concat([header, Uint8Array.from(values)]));
}

/**
 * The operator's plan review in a real browser (headless Chromium) over an in-process `fbm-node gui`:
 * what leaves the hospital (the plan's data block), pending plans first, Reject only on a pending plan
 * and only after a confirmation, the parameter count on the dataset the plan was asked for.
 */
describe("GUI plan review in a browser", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-gui-review-"));
  const home = join(dir, "home");
  let gui: GuiServer;
  let browser: Browser;
  let page: Page;

  before(async () => {
    await initHome(home, { name: "site-a" });
    // An unrelated wide dataset registered first: the count must not come from it.
    const wide = join(dir, "wide.csv");
    const header = [...Array.from({ length: 19 }, (_, i) => `x${i}`), "y"].join(",");
    writeFileSync(wide, `${header}\n${Array.from({ length: 3 }, () => Array(20).fill(1).join(",")).join("\n")}\n`);
    const bc = join(dir, "bc.csv");
    writeFileSync(bc, "a,b,y\n1,2,0\n4,5,1\n7,8,0\n");
    const add = async (path: string, name: string, tags: string) =>
      JSON.parse(
        (await nodeCli(...datasetAdd(home, { type: "csv", path, tags, name, target: "y", json: true }))).stdout,
      ).id as string;
    await add(wide, "wide", "other");
    const bcId = await add(bc, "bc", "breast-cancer");
    // For the previews: a table far wider than the page with a categorical column, and an IDX pair.
    const names = Array.from({ length: 40 }, (_, i) => `a_rather_long_column_name_${i}`);
    const table = join(dir, "cohort.csv");
    const cells = (site: string) => [...names.map((_, i) => String(i)), site].join(",");
    writeFileSync(table, `${[...names, "site"].join(",")}\n${cells("lyon")}\n${cells("nice")}\n${cells("lyon")}\n`);
    previewIds.table = (
      await nodeCli(...datasetAdd(home, { type: "csv", path: table, tags: "wide-table", json: true }))
    ).stdout;
    const images = join(dir, "digits-idx3-ubyte");
    const labels = join(dir, "digits-idx1-ubyte");
    writeIdx(images, 0x803, [3, 2, 2], [0, 255, 255, 0, 10, 20, 30, 40, 1, 2, 3, 4]);
    writeIdx(labels, 0x801, [3], [1, 0, 1]);
    previewIds.idx = (
      await nodeCli(...datasetAdd(home, { type: "idx", path: images, labels, tags: "digits", json: true }))
    ).stdout;
    const registry = await createPlanRegistry({ path: homePaths(home).plans });
    const from = { experiment: "study", researcher: "http://r:1", dataset: bcId };
    await registry.recordRequest(ids.approved, plan(4), from);
    await registry.approve(ids.approved);
    await registry.recordRequest(ids.rejected, plan(3), from);
    await registry.reject(ids.rejected, "too big");
    await registry.recordRequest(ids.pending, plan(2), from);
    await registry.close();
    const status: NodeStatus = {
      pid: process.pid,
      startedAt: "2026-12-06T08:00:00.000Z",
      updatedAt: "2026-12-06T08:10:00.000Z",
      researcher: "http://r:1",
      connected: true,
      current: {
        taskId: "task-gui-1",
        kind: "train",
        experiment: "study",
        round: 2,
        startedAt: "2026-12-06T08:09:00.000Z",
        progress: { epoch: 1, step: 3, totalSteps: 10 },
      },
      recent: [
        {
          kind: "train",
          experiment: "study",
          endedAt: "2026-12-06T08:08:00.000Z",
          outcome: "plan_not_approved",
          message: "Plan cccccccccccc is not approved",
          count: 25,
        },
      ],
    };
    writeFileSync(join(home, "status.json"), JSON.stringify(status));
    gui = await startGuiServer({ homeDir: home, host: "127.0.0.1", port: 0, log: () => {} });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.goto(gui.url);
    await page.waitForSelector(`[data-plan="${ids.approved}"]`);
  });
  after(async () => {
    await browser?.close();
    await gui?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const planStatus = async (id: string) => {
    const state = await (await fetch(new URL("/api/state", gui.url), { headers: { "x-fbm-token": gui.token } })).json();
    return state.plans.find((p: { id: string }) => p.id === id).status as string;
  };

  it("lists pending plans first, each with its data block as `fbm-node plan show` prints it", async () => {
    const order = await page.$$eval("[data-plan]", (rows) => rows.map((r) => r.getAttribute("data-plan")));
    assert.deepEqual(order, [ids.pending, ids.approved, ids.rejected]);
    const shown = await nodeCli("--home", home, "plan", "show", ids.pending);
    const dataLine = /^data:\s+(.*)$/m.exec(shown.stderr)?.[1]; // the human listing goes to stderr
    assert.equal(dataLine, "target y, normalize standard, impute {numeric mean}");
    assert.equal(await page.textContent(`[data-plan-data="${ids.pending}"]`), dataLine);
  });

  it("counts parameters on the dataset the plan was asked for, not on the first that fits", async () => {
    // 2 inputs (a, b): dense 2 → 2·2 + 2, dense 1 → 2 + 1. On "wide" (19 inputs) it would be 43.
    assert.equal(await page.textContent(`[data-params="${ids.pending}"]`), "9 on bc");
  });

  it("offers Reject on the pending plan only, and rejects only after a confirmation", async () => {
    const rejectButtons = await page.$$eval("[data-reject]", (els) => els.map((e) => e.getAttribute("data-reject")));
    assert.deepEqual(rejectButtons, [ids.pending]);
    const approvedRow = (await page.textContent(`[data-plan="${ids.approved}"]`)) ?? "";
    assert.match(approvedRow, /revoke with fbm-node plan reject aaaaaaaaaaaa/);

    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      void dialog.dismiss();
    });
    await page.click(`[data-reject="${ids.pending}"]`);
    assert.match(asked, /^Reject plan cccccccccccc from experiment "study"\?/);
    assert.equal(await planStatus(ids.pending), "pending", "dismissed: nothing changes");

    page.once("dialog", (dialog) => void dialog.accept());
    await page.fill(`[data-note="${ids.pending}"]`, "not this one");
    await page.click(`[data-reject="${ids.pending}"]`);
    await page.waitForFunction((id) => !document.querySelector(`[data-reject="${id}"]`), ids.pending);
    assert.equal(await planStatus(ids.pending), "rejected");
  });

  it("cancels the running task with the Cancel button, after a confirmation, as `fbm-node task cancel ID`", async () => {
    // This process plays the serving node: the same watch and running task as `fbm-node serve`.
    const running = createRunningTask();
    const task = running.start("task-gui-1", new AbortController().signal);
    const warnings: string[] = [];
    const watch = watchCancelRequests(home, running, { warn: (line) => warnings.push(line) });
    try {
      page.once("dialog", (dialog) => void dialog.dismiss());
      await page.click("#cancel-task");
      assert.equal(task.signal.aborted, false, "dismissed: nothing is cancelled");
      let asked = "";
      page.once("dialog", (dialog) => {
        asked = dialog.message();
        void dialog.accept();
      });
      const answered = page.waitForResponse((r) => r.url().endsWith("/api/task/cancel"));
      await page.click("#cancel-task");
      assert.equal((await answered).status(), 200);
      assert.match(asked, /^Cancel the running train task for "study"\?/);
      assert.ok(task.signal.reason instanceof TaskCancelled);
      assert.equal(task.signal.reason.by, "operator");
      assert.deepEqual(warnings, []);
    } finally {
      watch.close();
      task.end();
    }
  });

  it("shows a repeated refusal as one row with its count, progress as a bar, dates in ISO 8601", async () => {
    const recent = (await page.textContent("#recent")) ?? "";
    assert.equal(recent.match(/plan_not_approved/g)?.length, 1);
    assert.match(recent, /plan_not_approved ×25 \(last at 2026-12-06 08:08:00 UTC\)/);
    assert.deepEqual(
      await page.$eval("#task-progress", (el) => [(el as HTMLProgressElement).value, (el as HTMLProgressElement).max]),
      [3, 10],
    );
    assert.match((await page.textContent("#plans")) ?? "", /asked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by http:\/\/r:1/);
  });

  it("previews a wide CSV inside the page, listing each categorical column's categories", async () => {
    const id = JSON.parse(previewIds.table).id as string;
    await page.click(`[data-dataset="${id}"] >> text=Preview`);
    await page.waitForSelector('[data-preview="categories"]');
    assert.equal(await page.$$eval('[data-preview="rows"] th', (ths) => ths.length), 41);
    // The 41 columns scroll inside the preview: the page itself is no wider than the window.
    const [scrollWidth, clientWidth] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    assert.ok(scrollWidth <= clientWidth, `page ${scrollWidth}px wide in a ${clientWidth}px window`);
    const categories = await page.$$eval('[data-preview="categories"] tr', (rows) =>
      rows.map((r) => [...r.children].map((c) => c.textContent)),
    );
    assert.deepEqual(categories, [
      ["column", "categories", "values (rows)"],
      ["site", "2", "lyon (2), nice (1)"],
    ]);
  });

  it("previews an IDX pair: the first image of each class and the samples per class", async () => {
    const id = JSON.parse(previewIds.idx).id as string;
    await page.click(`[data-dataset="${id}"] >> text=Preview`);
    await page.waitForSelector('[data-preview="classes"]');
    const images = await page.$$eval("#preview img", (imgs) =>
      imgs.map((i) => [i.getAttribute("alt"), (i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).complete]),
    );
    assert.deepEqual(images, [
      ["0", 2, true],
      ["1", 2, true],
    ]);
    const counts = await page.$$eval('[data-preview="classes"] tr', (rows) =>
      rows.map((r) => [...r.children].map((c) => c.textContent)),
    );
    assert.deepEqual(counts, [
      ["class", "samples"],
      ["0", "1"],
      ["1", "2"],
    ]);
  });
});
