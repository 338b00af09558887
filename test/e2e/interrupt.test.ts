import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, nodeBin, prepareNodes, researcherBin } from "../../scripts/lib/federation.js";

/**
 * Starts a CLI, waits until its stderr matches `ready`, sends `signal`, and returns its exit and output
 * (SIGKILLed if it is not ready or has not stopped within DEADLINE_MS).
 */
async function interrupt(
  args: string[],
  ready: RegExp,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const deadline = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
  let stderr = "";
  let sent = false;
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (!sent && ready.test(stderr)) {
      sent = true;
      child.kill(signal);
    }
  });
  const code = await new Promise<number | null>((done) => child.on("exit", (c) => done(c)));
  clearTimeout(deadline);
  return { code, stderr };
}

describe("stopping the CLIs with a signal", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-sig-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("an interrupted researcher exits 130 with one line and leaves no run folder before round 1", async () => {
    const experiment = join(dir, "wait.yaml");
    writeFileSync(
      experiment,
      [
        "name: waiting",
        "tags: [nobody]",
        "rounds: 1",
        "nodes: {min: 1, wait: 10m}",
        "plan: {data: {target: y}, model: [{dense: {units: 1}}], loss: meanSquaredError, optimizer: {name: sgd, learning_rate: 0.1}}",
      ].join("\n"),
    );
    const r = await interrupt(
      [researcherBin, experiment, "--listen", "127.0.0.1:0", "--out", join(dir, "runs")],
      /waiting for nodes/,
      "SIGINT",
    );
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr.trim().split("\n").at(-1)!, /^Error: Interrupted/);
    assert.equal(existsSync(join(dir, "runs", "waiting")), false);
  });

  it("a serving node stops cleanly on SIGTERM (exit 0)", async () => {
    const [home] = await prepareNodes(dir, [{ name: "n", datasets: [] }]);
    const r = await interrupt(
      [nodeBin, "--home", home, "serve", "--researcher", "http://127.0.0.1:9"],
      /not reachable/,
      "SIGTERM",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Stopped/);
  });
});
