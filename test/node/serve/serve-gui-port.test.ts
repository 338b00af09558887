import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { nodeBin, prepareNodes, stopAll } from "../../../scripts/lib/federation.js";
import { createHub } from "../../../src/researcher/server/hub.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { until } from "../../support/wait.js";

describe("fbm-node serve --gui with the GUI's port taken", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-serve-gui-port-"));
  const processes: ChildProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    await stopAll(processes);
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves on without the GUI and says why, naming what to change", async () => {
    const [home] = await prepareNodes(dir, [{ name: "site-a", datasets: [] }]);
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, "127.0.0.1", done));
    cleanups.push(() => new Promise<void>((done) => taken.close(() => done())));
    const port = (taken.address() as { port: number }).port;
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    cleanups.push(() => hub.close());
    const child = spawn(
      process.execPath,
      [nodeBin, "--home", home, "serve", "--researcher", server.url, "--gui-listen", `127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    processes.push(child);
    let log = "";
    child.stderr?.on("data", (d) => (log += d));
    await until(() => hub.nodes().some((n) => n.online) || child.exitCode !== null, "the node to connect");
    assert.equal(child.exitCode, null, log);
    assert.match(
      log,
      new RegExp(
        `WARN .*The GUI cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use; the node serves without it`,
      ),
    );
  });
});
