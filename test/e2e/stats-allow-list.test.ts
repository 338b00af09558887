import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, nodeBin, nodeIdOf, prepareNodes, stopAll } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { fingerprintOfPem } from "../../src/common/certificates.js";
import { identityPaths } from "../../src/node/identity/identity.js";
import { allowNode } from "../../src/researcher/server/allow-list.js";
import { runStats } from "../../src/researcher/stats/run-stats.js";
import { until } from "../support/wait.js";

/**
 * `stats` serves like a run: on cleartext its --allow-list holds the keys nodes sign with, and a node
 * whose key is not on it is refused (it was served before: runStats handed the server only listen/tls).
 */
describe("fbm-researcher stats with an allow-list on cleartext", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-stats-allow-"));
  const processes: ChildProcess[] = [];
  after(async () => {
    await stopAll(processes);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a node whose signing key is not listed and describes only the listed node's data", async () => {
    const csv = (name: string, seed: number) => {
      const path = join(dir, `${name}.csv`);
      writeTabularCsv(path, { rows: 120, seed, features: 3, noise: 0.1 });
      return ["--type", "csv", "--path", path, "--tags", "ward", "--target", "label"];
    };
    const [listed, unlisted] = await prepareNodes(join(dir, "homes"), [
      { name: "listed", datasets: [csv("listed", 1)] },
      { name: "unlisted", datasets: [csv("unlisted", 2)] },
    ]);
    const fingerprint = (home: string) => fingerprintOfPem(readFileSync(identityPaths(home).cert, "utf8"));
    const allowList = join(dir, "allowed-nodes.json");
    await allowNode(allowList, { fingerprint: fingerprint(listed), node_id: nodeIdOf(listed), name: "listed" });

    const lines: string[] = [];
    const serve = (home: string, url: string) => {
      const child = spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", url], {
        stdio: ["ignore", "ignore", "ignore"],
      });
      processes.push(child);
    };
    let url: string | undefined;
    const stats = runStats({
      tags: ["ward"],
      nodes: 1,
      waitSeconds: DEADLINE_MS / 1000,
      listen: "127.0.0.1:0",
      allowList,
      log: (line) => {
        lines.push(line);
        url ??= /^Listening on (http:\/\/\S+);/.exec(line)?.[1];
      },
    });
    await until(() => url !== undefined, "the researcher to listen");
    serve(unlisted, url as string);
    await until(
      () =>
        lines.some((l) => l.startsWith(`Refused node ${fingerprint(unlisted)}`) && l.includes("not on the allow-list")),
      "the researcher to refuse the unlisted node's key",
    );
    serve(listed, url as string);
    const result = await stats;
    assert.deepEqual(
      result.nodes.map((n) => n.name),
      ["listed"],
    );
  });
});
