import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  commandLine,
  DEADLINE_MS,
  fbmNode,
  nodeBin,
  prepareNodes,
  runResearcher,
  startNodes,
  stopAll,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { until } from "../support/wait.js";

/** The operator changes a running node: `config set` applies without a restart, SIGHUP reloads. */
describe("a serving node follows its config", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-live-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("`config set plan_approval false` lets a waiting researcher train at once; the researcher says whom it waits for", async () => {
    const csv = join(dir, "site.csv");
    writeTabularCsv(csv, { rows: 60, seed: 1, features: 3, noise: 0 });
    const [home] = await prepareNodes(dir, [
      { name: "site-live", datasets: [["--type", "csv", "--path", csv, "--tags", "live", "--target", "label"]] },
    ]);
    const experiment = join(dir, "live.yaml");
    writeFileSync(
      experiment,
      [
        "name: live",
        "tags: [live]",
        "rounds: 1",
        "nodes: {min: 1, wait: 10m}",
        "plan: {data: {target: label}, model: [{dense: {units: 1, activation: sigmoid}}], loss: binaryCrossentropy, optimizer: {name: sgd, learning_rate: 0.1}}",
      ].join("\n"),
    );
    const nodes = await startNodes([home]);
    try {
      let set: Promise<{ stderr: string }> | undefined;
      const result = await runResearcher({
        experiment,
        outDir: join(dir, "runs"),
        gate: nodes.gate,
        onEvent: (e) => {
          if (e.event === "error" && e.code === "plan_not_approved")
            set ??= fbmNode("--home", home, "config", "set", "plan_approval", "false");
        },
      });
      assert.match((await set!).stderr, /^Set plan_approval = false \(a running `fbm-node serve` applies it/);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.events.at(-1)?.event, "done");
      assert.match(
        result.stderr,
        /Waiting for the operator of site-live \(node_[0-9a-f]{12}\) to approve plan [0-9a-f]{12}: \d+ min( \d+ s)? left \(nodes\.wait\)/,
      );
      const log = nodes.logs[home];
      assert.match(log, /^\S+Z INFO {2}Node site-live/m, "log lines carry an ISO time and a level");
      assert.match(log, /INFO {2}Ready: serving researcher/);
      assert.match(log, /Config plan_approval = false: applied from the next task/);
      assert.equal(log.match(/awaits approval/g)?.length, 1, log);
      assert.doesNotMatch(log, /Task train failed/, "the gate's message is the one line about a pending plan");
    } finally {
      await nodes.stop();
    }
  });

  it("SIGHUP reloads config.json and keeps serving; a key that needs a restart says so", async () => {
    const [home] = await prepareNodes(join(dir, "hup"), [{ name: "site-hup", datasets: [] }]);
    const node = spawn(
      ...commandLine(nodeBin, ["--home", home, "serve", "--researcher", "http://127.0.0.1:9", "--log-format", "json"]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    node.stderr!.on("data", (d) => (log += d));
    try {
      await until(() => /Ready: serving/.test(log), "the node to be ready");
      const lines = () =>
        log
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Record<string, string>);
      assert.ok(
        lines().every((l) => typeof l.time === "string" && l.level && l.msg),
        log,
      );
      await fbmNode("--home", home, "config", "set", "name", "renamed");
      await until(() => /Config name changed to renamed: restart fbm-node serve/.test(log), "the renamed warning");
      node.kill("SIGHUP");
      await until(() => /SIGHUP: reloading config.json/.test(log), "the SIGHUP line");
      assert.equal(node.exitCode, null, "SIGHUP does not stop the node");
      const warning = lines().find((l) => l.msg.startsWith("Config name changed"));
      assert.equal(warning?.level, "warn");
    } finally {
      await stopAll([node]);
    }
    assert.equal(node.exitCode, 0, log);
  });
});
