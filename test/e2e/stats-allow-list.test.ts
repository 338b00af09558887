import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEADLINE_MS, nodeBin, nodeIdOf, prepareNodes, stopAll } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { fingerprintOfPem } from "../../src/common/certificates.js";
import { identityPaths } from "../../src/node/identity/identity.js";
import { runResearcherCli } from "../../src/researcher/cli/program.js";
import { allowNode } from "../../src/researcher/server/allow-list.js";
import { until } from "../support/wait.js";

/**
 * `stats` and `datasets` serve like a run: on cleartext their --allow-list holds the keys nodes sign
 * with, and a node whose key is not on it is refused (`stats` once served it: runStats handed the server
 * only listen/tls). Through the CLI, so the flags' declaration is what is tested.
 */
describe("fbm-researcher stats and datasets with an allow-list on cleartext", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-stats-allow-"));
  const allowList = join(dir, "allowed-nodes.json");
  const processes: ChildProcess[] = [];
  let listed = "";
  let unlisted = "";
  const fingerprint = (home: string) => fingerprintOfPem(readFileSync(identityPaths(home).cert, "utf8"));

  before(async () => {
    const csv = (name: string, seed: number) => {
      const path = join(dir, `${name}.csv`);
      writeTabularCsv(path, { rows: 120, seed, features: 3, noise: 0.1 });
      return ["--type", "csv", "--path", path, "--tags", "ward", "--target", "label"];
    };
    [listed, unlisted] = await prepareNodes(join(dir, "homes"), [
      { name: "listed", datasets: [csv("listed", 1)] },
      { name: "unlisted", datasets: [csv("unlisted", 2)] },
    ]);
    await allowNode(allowList, { fingerprint: fingerprint(listed), node_id: nodeIdOf(listed), name: "listed" });
  });
  after(async () => {
    await stopAll(processes);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `command` until one node answered: the unlisted node connects first and must be refused. */
  async function serveOneNode(command: string[]): Promise<{ code: number; stdout: string }> {
    let stderr = "";
    let stdout = "";
    const serving: ChildProcess[] = [];
    const serve = (home: string, url: string) => {
      const child = spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", url], {
        stdio: ["ignore", "ignore", "ignore"],
      });
      processes.push(child);
      serving.push(child);
    };
    const run = runResearcherCli(
      [
        ...command,
        "--tags",
        "ward",
        "--nodes",
        "1",
        "--wait",
        String(DEADLINE_MS / 1000),
        "--listen",
        "127.0.0.1:0",
        "--allow-list",
        allowList,
        "--json",
      ],
      { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) },
    );
    try {
      await until(() => /Listening on http:\/\/\S+;/.test(stderr), "the researcher to listen");
      const url = /Listening on (http:\/\/\S+);/.exec(stderr)?.[1] as string;
      serve(unlisted, url);
      await until(
        () => stderr.includes(`Refused node ${fingerprint(unlisted)}`) && stderr.includes("not on the allow-list"),
        "the researcher to refuse the unlisted node's key",
      );
      serve(listed, url);
      return { code: await run, stdout };
    } finally {
      await stopAll(serving);
    }
  }

  it("stats refuses a node whose signing key is not listed and describes only the listed node's data", async () => {
    const { code, stdout } = await serveOneNode(["stats"]);
    assert.equal(code, 0);
    assert.deepEqual(
      JSON.parse(stdout).nodes.map((n: { name: string }) => n.name),
      ["listed"],
    );
  });

  it("datasets refuses a node whose signing key is not listed and lists only the listed node's datasets", async () => {
    const { code, stdout } = await serveOneNode(["datasets"]);
    assert.equal(code, 0);
    assert.deepEqual(
      JSON.parse(stdout).map((n: { name: string }) => n.name),
      ["listed"],
    );
  });
});
