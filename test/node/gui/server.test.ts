import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { homePaths, initHome } from "../../../src/node/config/home.js";
import { isLocalHost, sameToken } from "../../../src/node/gui/access.js";
import { type GuiServer, guiUrlPath, startGuiServer } from "../../../src/node/gui/server.js";
import { createPlanRegistry } from "../../../src/node/plans/plan-registry.js";
import { createPrivacyLedger } from "../../../src/node/privacy/privacy-ledger.js";
import { computeRdp } from "../../../src/privacy/dp/rdp.js";
import { nodeCli } from "../../support/cli.js";
import { datasetAdd } from "../../support/dataset-add.js";

const planJson = JSON.stringify({
  data: { target: "y" },
  model: [{ dense: { units: 2, activation: "relu" } }, { dense: { units: 1 } }],
  loss: "meanSquaredError",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const planId = "ab".repeat(32);

describe("the GUI's HTTP API (in-process server on port 0)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-gui-"));
  const home = join(dir, "home");
  const csv = join(dir, "rows.csv");
  let gui: GuiServer;
  let origin = "";
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${origin}${path}`, {
      method,
      headers: { "x-fbm-token": gui.token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  before(async () => {
    await initHome(home, { name: "site-a" });
    writeFileSync(csv, "a,b,y\n1,2,3\n4,5,6\n7,8,9.5\n");
    const registry = await createPlanRegistry({ path: homePaths(home).plans });
    await registry.recordRequest(planId, planJson, { experiment: "study", researcher: "http://r:1" });
    await registry.close();
    gui = await startGuiServer({ homeDir: home, host: "127.0.0.1", port: 0, log: () => {} });
    origin = new URL(gui.url).origin;
  });
  after(async () => {
    await gui?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("`fbm-node gui --print-url` re-prints the running GUI's URL from an owner-only file, and exits 1 when none runs", async () => {
    const printed = await nodeCli("--home", home, "gui", "--print-url");
    assert.deepEqual([printed.code, printed.stdout], [0, `${gui.url}\n`]);
    assert.equal(statSync(guiUrlPath(home)).mode & 0o777, 0o600);
    // A second GUI on another home: once closed, its URL file is gone and --print-url says so.
    const other = join(dir, "other");
    await initHome(other, { name: "site-b" });
    const second = await startGuiServer({ homeDir: other, host: "127.0.0.1", port: 0, log: () => {} });
    assert.equal((await nodeCli("--home", other, "gui", "--print-url")).stdout, `${second.url}\n`);
    await second.close();
    const none = await nodeCli("--home", other, "gui", "--print-url");
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /^Error: No GUI is running for the home .*: start one with `fbm-node gui` or `fbm-node serve --gui`\n$/,
    );
  });

  it("answers 401 to requests without the token, and to changes that carry only the cookie", async () => {
    assert.equal((await fetch(`${origin}/api/state`)).status, 401);
    assert.equal((await fetch(`${origin}/`)).status, 401);
    const cookie = `fbm_gui_token=${gui.token}`;
    const approve = await fetch(`${origin}/api/plans/${planId}/approve`, { method: "POST", headers: { cookie } });
    assert.equal(approve.status, 401);
    assert.equal((await api("GET", "/api/state")).status, 200);
  });

  it("registers a dataset with the CLI's checks: a bad target is a 400 with the CLI's message", async () => {
    const bad = await api("POST", "/api/datasets", { type: "csv", path: csv, tags: "t", target: "nope" });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /no column "nope" \(columns: a, b, y\)/);
    const cli = await nodeCli(...datasetAdd(home, { type: "csv", path: csv, tags: "t", target: "nope" }));
    assert.equal(
      cli.stderr,
      `Error: ${(await (await api("POST", "/api/datasets", { type: "csv", path: csv, tags: "t", target: "nope" })).json()).error}\n`,
    );
    const good = await api("POST", "/api/datasets", {
      type: "csv",
      path: csv,
      tags: "t, u",
      target: "y",
      name: "rows",
    });
    assert.equal(good.status, 200);
    const entry = await good.json();
    assert.deepEqual([entry.name, entry.tags, entry.sampleCount], ["rows", ["t", "u"], 3]);
    const listed = JSON.parse((await nodeCli("--home", home, "dataset", "list", "--json")).stdout);
    assert.deepEqual(
      listed.map((d: { id: string }) => d.id),
      [entry.id],
    );
  });

  it("previews a CSV: first rows and exact column statistics", async () => {
    const [entry] = JSON.parse((await nodeCli("--home", home, "dataset", "list", "--json")).stdout);
    const preview = await (await api("GET", `/api/datasets/${entry.id}/preview`)).json();
    assert.deepEqual(preview.columns, ["a", "b", "y"]);
    assert.deepEqual(preview.rows, [
      ["1", "2", "3"],
      ["4", "5", "6"],
      ["7", "8", "9.5"],
    ]);
    const a = preview.stats.find((s: { name: string }) => s.name === "a");
    assert.deepEqual([a.count, a.mean, a.std, a.min, a.max], [3, 4, 3, 1, 7]);
  });

  it("shows a plan with its data block and layers, and rejects it with a note", async () => {
    const state = await (await api("GET", "/api/state")).json();
    const plan = state.plans.find((p: { id: string }) => p.id === planId);
    // Asked for no known dataset: no parameter count (one on an unrelated dataset would mislead).
    assert.deepEqual(
      [plan.status, plan.experiment, plan.data, plan.layers.map((l: { kind: string }) => l.kind), plan.params],
      ["pending", "study", "target y", ["dense", "dense"], undefined],
    );
    const rejected = await api("POST", `/api/plans/${planId.slice(0, 8)}/reject`, { note: "not now" });
    assert.equal(rejected.status, 200);
    const shown = JSON.parse((await nodeCli("--home", home, "plan", "show", planId, "--json")).stdout);
    assert.deepEqual([shown.status, shown.note], ["rejected", "not now"]);
  });

  it("sets and clears a dataset's ε budget as `dataset set` does, and shows the ledger's spent and left", async () => {
    const [entry] = JSON.parse((await nodeCli("--home", home, "dataset", "list", "--json")).stdout);
    const budgetOf = async () =>
      (await (await api("GET", "/api/state")).json()).datasets.find((d: { id: string }) => d.id === entry.id).privacy;
    assert.deepEqual(await budgetOf(), { budgetFrom: "none", spent: 0, delta: 1e-5, rounds: 0 });

    // A bad value: a 400 with the CLI's own message, and the catalogue file is not written.
    const catalogueBefore = readFileSync(homePaths(home).catalogue, "utf8");
    for (const value of ["-1", "lots", "", undefined]) {
      const bad = await api("POST", `/api/datasets/${entry.id}/max_epsilon`, { value });
      assert.equal(bad.status, 400, String(value));
      const cli = await nodeCli("--home", home, "dataset", "set", entry.id, "max_epsilon", value ?? "");
      assert.deepEqual([cli.code, cli.stderr], [2, `Error: ${(await bad.json()).error}\n`]);
    }
    assert.equal(readFileSync(homePaths(home).catalogue, "utf8"), catalogueBefore);
    const missing = await api("POST", "/api/datasets/ds_nope/max_epsilon", { value: "3" });
    assert.equal(missing.status, 400);

    // One DP round charged to the dataset's files, through the ledger's own API (as `serve` does).
    const rdp = computeRdp({ q: 0.1, noiseMultiplier: 1.1, steps: 50 });
    const ledger = await createPrivacyLedger({ path: homePaths(home).privacy });
    const { datasetEpsilon: spent } = await ledger.charge({
      sha256: entry.sha256,
      datasetId: entry.id,
      datasetName: entry.name,
      experiment: "dp-study",
      round: 1,
      rdp,
      delta: 1e-5,
      budgetDelta: 1e-5,
    });
    await ledger.close();
    assert.ok(spent > 0 && spent < 5, `one round spends a little: ${spent}`);

    const set = await api("POST", `/api/datasets/${entry.id}/max_epsilon`, { value: "5" });
    assert.equal(set.status, 200);
    const answer = await set.json();
    const shown = JSON.parse((await nodeCli("--home", home, "dataset", "show", entry.id, "--json")).stdout);
    assert.deepEqual(answer, { id: entry.id, max_epsilon: 5, privacy: shown.privacy }, "the CLI's --json answer");
    assert.deepEqual(await budgetOf(), shown.privacy);
    assert.deepEqual(
      [shown.maxEpsilon, shown.privacy.budget, shown.privacy.budgetFrom, shown.privacy.rounds],
      [5, 5, "dataset", 1],
    );
    assert.ok(Math.abs(shown.privacy.spent - spent) < 1e-12);
    assert.ok(Math.abs(shown.privacy.left - (5 - spent)) < 1e-12);

    // "none" clears the dataset's own budget: the node's max_epsilon applies again.
    await nodeCli("--home", home, "config", "set", "max_epsilon", "8");
    assert.equal((await api("POST", `/api/datasets/${entry.id}/max_epsilon`, { value: "none" })).status, 200);
    const cleared = await budgetOf();
    assert.deepEqual([cleared.budget, cleared.budgetFrom], [8, "node"]);
    assert.ok(Math.abs(cleared.left - (8 - spent)) < 1e-12);
    const listed = JSON.parse((await nodeCli("--home", home, "dataset", "list", "--json")).stdout);
    assert.equal(listed[0].maxEpsilon, undefined);
    await nodeCli("--home", home, "config", "set", "max_epsilon", "none");
  });

  it("answers 409 to a cancel when no task runs, and 400 to one that names none", async () => {
    const none = await api("POST", "/api/task/cancel", { taskId: "t-1" });
    assert.equal(none.status, 409);
    assert.match((await none.json()).error, /^No task is running: no fbm-node serve is running on /);
    const unnamed = await api("POST", "/api/task/cancel", {});
    assert.equal(unnamed.status, 400);
  });

  it("removes a dataset; an unknown id is a 400 naming it", async () => {
    const [entry] = JSON.parse((await nodeCli("--home", home, "dataset", "list", "--json")).stdout);
    assert.equal((await api("DELETE", `/api/datasets/${entry.id}`)).status, 200);
    assert.equal((await nodeCli("--home", home, "dataset", "list", "--json")).stdout, "[]\n");
    const again = await api("DELETE", `/api/datasets/${entry.id}`);
    assert.equal(again.status, 400);
    assert.match((await again.json()).error, new RegExp(`No dataset with id "${entry.id}"`));
  });
});

describe("GUI access checks", () => {
  it("compares tokens whole", () => {
    assert.equal(sameToken("abc", "abc"), true);
    for (const given of [undefined, "", "ab", "abcd", "abd"]) assert.equal(sameToken(given, "abc"), false, given);
  });

  it("accepts only Host headers naming this loopback server", () => {
    assert.equal(isLocalHost("127.0.0.1:8585", "127.0.0.1", 8585), true);
    assert.equal(isLocalHost("localhost:8585", "127.0.0.1", 8585), true);
    assert.equal(isLocalHost("[::1]:8585", "::1", 8585), true);
    for (const host of [undefined, "127.0.0.1:80", "evil.example:8585", "127.0.0.1.evil.example:8585"])
      assert.equal(isLocalHost(host, "127.0.0.1", 8585), false, host);
  });
});
