import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { nodeBin, prepareNodes, stopAll } from "../../../scripts/lib/federation.js";
import { lockServe } from "../../../src/node/serve/serve-lock.js";
import { createHub } from "../../../src/researcher/server/hub.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { until } from "../../support/wait.js";

describe("one fbm-node serve per home", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-serve-lock-"));
  const processes: ChildProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    await stopAll(processes);
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a second holder while the first process lives, naming its pid, and frees the file on release", () => {
    const home = mkdtempSync(join(dir, "live-"));
    writeFileSync(join(home, "serve.pid"), `${process.pid} ${hostname()}\n`);
    assert.throws(() => lockServe(home), new RegExp(`Another fbm-node serve \\(pid ${process.pid}\\) is serving`));
    rmSync(join(home, "serve.pid"));
    const release = lockServe(home);
    assert.equal(readFileSync(join(home, "serve.pid"), "utf8"), `${process.pid} ${hostname()}\n`);
    release();
    assert.equal(existsSync(join(home, "serve.pid")), false);
  });

  it("takes over the file of a process that is gone (a restart after a crash), never one from another host", () => {
    const home = mkdtempSync(join(dir, "stale-"));
    const gone = spawn(process.execPath, ["-e", ""]);
    const deadPid = gone.pid as number;
    writeFileSync(join(home, "serve.pid"), `${deadPid} ${hostname()}\n`);
    return new Promise<void>((resolve) => gone.on("exit", () => resolve())).then(() => {
      const lines: string[] = [];
      const release = lockServe(home, (l) => lines.push(l));
      assert.match(lines.join("\n"), new RegExp(`its process ${deadPid} is gone`));
      release();
      writeFileSync(join(home, "serve.pid"), `${deadPid} some-other-host\n`);
      assert.throws(() => lockServe(home), /\(pid \d+ on some-other-host\)/);
    });
  });

  it("a second real `fbm-node serve` on the same home exits 2 naming the first one's pid; the first serves on", async () => {
    const [home] = await prepareNodes(join(dir, "real"), [{ name: "site-a", datasets: [] }]);
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({ listen: "127.0.0.1:0", hub });
    cleanups.push(() => server.close());
    cleanups.push(() => hub.close());
    const serve = () => {
      const child = spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", server.url], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let log = "";
      child.stderr?.on("data", (d) => (log += d));
      processes.push(child);
      return { child, log: () => log };
    };
    const first = serve();
    await until(() => hub.nodes().some((n) => n.online), "the first node to connect");
    const second = serve();
    const code = await new Promise<number | null>((resolve) => second.child.on("exit", resolve));
    assert.equal(code, 2, second.log());
    assert.match(second.log(), new RegExp(`Another fbm-node serve \\(pid ${first.child.pid}\\) is serving the home`));
    assert.equal(first.child.exitCode, null, "the first node still runs");
    assert.equal(hub.nodes().filter((n) => n.online).length, 1);
  });
});
