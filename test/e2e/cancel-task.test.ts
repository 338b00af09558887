import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import {
  commandLine,
  DEADLINE_MS,
  fbmNode,
  prepareNodes,
  researcherBin,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { until } from "../support/wait.js";

/**
 * Issue 33: a task asking for 10⁸ updates would keep a hospital core busy for days. The researcher that
 * stops waiting for it, or the node's operator, cancels it; the node answers task_cancelled (to the
 * operator's cancel) and polls again.
 */
describe("cancelling a running task", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-cancel-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const csv = join(dir, "site.csv");
  writeTabularCsv(csv, { rows: 60, seed: 1, features: 3, noise: 0 });
  const experiment = join(dir, "endless.yaml");
  writeFileSync(
    experiment,
    [
      "name: endless",
      "tags: [endless]",
      "rounds: 2",
      "nodes: {min: 1, wait: 10m}",
      "plan: {data: {target: label}, model: [{dense: {units: 1, activation: sigmoid}}], loss: binaryCrossentropy, optimizer: {name: sgd, learning_rate: 0.1}}",
      "training: {updates: 100000000, batch_size: 8}",
    ].join("\n"),
  );
  const node = (name: string) =>
    prepareNodes(join(dir, name), [
      {
        name,
        datasets: [["--type", "csv", "--path", csv, "--tags", "endless", "--target", "label"]],
        config: [
          ["plan_approval", "false"],
          ["max_updates", "1000000000"],
        ],
      },
    ]);

  it("a researcher interrupted mid-round: the node stops the task and polls again", async () => {
    const [home] = await node("site-int");
    // The lost-researcher window shortened from 65 s to 2 s (test-only), heartbeats every ½ s.
    const nodes = await startNodes([home], { env: { ...process.env, FBM_TEST_LOST_RESEARCHER_MS: "2000" } });
    try {
      const researcher = spawn(
        ...commandLine(researcherBin, [
          experiment,
          "--listen",
          "127.0.0.1:0",
          "--out",
          join(dir, "runs-int"),
          "--json",
        ]),
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const exited = new Promise<number | null>((done) => researcher.on("exit", (code) => done(code)));
      let interrupted = 0;
      for await (const line of createInterface({ input: researcher.stdout! })) {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === "listening") nodes.gate.open(event.url as string);
        // Training has started on the node: Ctrl-C.
        if (event.event === "progress" && !interrupted) {
          interrupted = Date.now();
          researcher.kill("SIGINT");
        }
      }
      assert.equal(await exited, 130);
      // The researcher's address now refuses connections, as when its process is gone (the gate would hold them).
      await nodes.gate.close();
      const log = () => nodes.logs[home];
      await until(() => /cancelled by the (lost )?researcher/.test(log()), "the node to cancel the task");
      const seconds = (Date.now() - interrupted) / 1000;
      await until(() => /cancelled by[\s\S]*not reachable/.test(log()), "the node to poll again");
      assert.match(
        log(),
        /INFO {2}Task [0-9a-f-]{36} \(train for "endless", round 1\) cancelled by the (lost )?researcher; polling for the next task/,
      );
      assert.doesNotMatch(log(), /Task train failed|Could not send/, "one line, no reply to a researcher that is gone");
      console.log(`# the node stopped its task ${seconds.toFixed(1)} s after the researcher's Ctrl-C`);
      assert.ok(seconds < 60, `${seconds} s`);
    } finally {
      await nodes.stop();
    }
  });

  it("`fbm-node task cancel` stops the running task; the researcher sees task_cancelled and stops (on_failure: stop)", async () => {
    const [home] = await node("site-op");
    await assert.rejects(fbmNode("--home", home, "task", "cancel"), /exited 1: Error: No task is running/);
    const nodes = await startNodes([home]);
    try {
      let cancel: Promise<{ stderr: string }> | undefined;
      const run = await runResearcher({
        experiment,
        outDir: join(dir, "runs-op"),
        gate: nodes.gate,
        onEvent: (e) => {
          // status.json is rewritten at most every 300 ms, so the node's first progress report can reach the
          // researcher before the file names the task: cancel once it does, as an operator reading it would.
          if (e.event === "progress")
            cancel ??= until(() => /"current"/.test(statusOf(home)), "status.json to show the task").then(() =>
              fbmNode("--home", home, "task", "cancel"),
            );
        },
      });
      const said = (await cancel!).stderr;
      assert.match(
        said,
        /^Cancelled task [0-9a-f-]{36} \(train for "endless", round 1\) on the serving node \(pid \d+\)/,
      );
      assert.equal(said.trim().split("\n").length, 1);
      assert.equal(run.code, 1, run.stderr);
      const failure = run.events.find((e) => e.event === "error" && e.code === "task_cancelled");
      assert.ok(failure, JSON.stringify(run.events.filter((e) => e.event !== "progress")));
      assert.match(failure.message, /cancelled by the node's operator/);
      assert.match(nodes.logs[home], /cancelled by the operator; polling for the next task/);
      // Nothing runs any more: the command says so and exits 1.
      await until(() => !/"current"/.test(statusOf(home)), "status.json to show no running task");
      await assert.rejects(fbmNode("--home", home, "task", "cancel"), /exited 1: Error: No task is running/);
    } finally {
      await nodes.stop();
    }
  });
});

function statusOf(home: string): string {
  try {
    return readFileSync(join(home, "status.json"), "utf8");
  } catch {
    return "";
  }
}
