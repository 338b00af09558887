import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { createGate, type Gate } from "../../scripts/lib/gate.js";
import { runPollLoop } from "../../src/node/serve/poll-loop.js";
import { createNodeTransport } from "../../src/node/serve/transport.js";
import { createResearcherClient } from "../../src/wire/index.js";
import { DEADLINE_MS, until } from "../support/wait.js";

/**
 * Issue 29, end to end: a node on its Session (the default) whose researcher process is SIGKILLed while
 * the node runs its task reconnects to the researcher started next and answers it. The CI hang this
 * guards against: the reply went to the dead Session and the poll loop waited for it for good. The
 * node runs here (its real transport, signed calls, poll loop); each researcher is a process of its own
 * (test/support/session-researcher.ts) behind a gate (scripts/lib/gate.ts), as test/e2e/resume.test.ts
 * sets them up.
 */

const script = join(import.meta.dirname, "../support/session-researcher.ts");

interface Researcher {
  child: ChildProcess;
  url: string;
  /** What it said so far (JSON lines). */
  said: Record<string, string>[];
}

async function startResearcher(): Promise<Researcher> {
  const child = spawn(process.execPath, ["--import", "tsx", script, String(1 << 20)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const said: Record<string, string>[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => said.push(JSON.parse(line)));
  await until(() => said.some((l) => l.listening) || child.exitCode !== null, "a researcher to listen", DEADLINE_MS);
  const url = said.find((l) => l.listening)?.listening;
  assert.ok(url, "the researcher process started");
  return { child, url, said };
}

describe("a Session node whose researcher is SIGKILLed mid-task", { timeout: 2 * DEADLINE_MS }, () => {
  const home = mkdtempSync(join(tmpdir(), "fbm-e2e-session-"));
  const children: ChildProcess[] = [];
  let gate: Gate | undefined;
  const stop = new AbortController();
  let loop: Promise<void> | undefined;
  after(async () => {
    stop.abort();
    await loop;
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await gate?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("reconnects to the restarted researcher and answers it", async () => {
    gate = await createGate();
    // Both researchers start at once (the second waits, unreached, behind the gate): one start-up to wait for.
    const [first, second] = await Promise.all([startResearcher(), startResearcher()]);
    children.push(first.child, second.child);
    gate.open(first.url);
    const url = `http://127.0.0.1:${gate.port}`;
    const lines: string[] = [];
    const sessionId = "session-1";
    const transport = await createNodeTransport({
      url,
      homeDir: home,
      config: { node_id: "n1" },
      sessionId,
      log: (line) => lines.push(line),
    });
    let tasks = 0;
    loop = runPollLoop({
      client: createResearcherClient(transport),
      researcherUrl: url,
      nodeId: "n1",
      name: "n1",
      version: "t",
      sessionId,
      signal: stop.signal,
      log: (line) => lines.push(line),
      backoff: { initialMs: 50, maxMs: 500 },
      execute: async (task) => {
        if (task.body.kind !== "train") throw new Error("a train task was expected");
        // The first researcher dies while this node runs its task; the reply (4 MiB) then has no call.
        if (++tasks === 1) {
          gate?.shut();
          first.child.kill("SIGKILL");
          await once(first.child, "exit");
        }
        return {
          kind: "train",
          result: { params: task.body.params, sampleCount: 1, trainLoss: 0, seconds: 0 },
        };
      },
    });
    await until(() => first.said.some((l) => l.sent === "n1"), "the first task to be sent");
    await until(() => first.child.exitCode !== null || first.child.signalCode !== null, "the first researcher to die");
    gate.open(second.url);
    await until(
      () => second.said.some((l) => l.reply === "n1"),
      `the node to answer the restarted researcher (node: ${lines.join(" | ")})`,
    );
    assert.equal(tasks, 2);
    assert.ok(
      lines.some((l) => /Could not send the train reply/.test(l)),
      `the reply to the dead researcher failed: ${lines.join(" | ")}`,
    );
  });
});
