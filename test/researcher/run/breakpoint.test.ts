import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readBreakpoint, restoreHistory, writeBreakpoint } from "../../../src/researcher/run/breakpoint.js";
import type { RunInputs } from "../../../src/researcher/run/run-context.js";
import { openRunFolder } from "../../../src/researcher/run/run-folder.js";
import { tensorboardFiles } from "../../../src/researcher/run/tensorboard.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-breakpoint-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("breakpoint", () => {
  it("keeps the resolved table preparation for --resume, beside the normalization", async () => {
    const inputs: RunInputs = {
      sampleShape: [4],
      features: ["age", "sex=F", "sex=M", "sex=(other)"],
      normalization: {
        method: "standard",
        columns: ["age", "sex=F", "sex=M", "sex=(other)"],
        shift: [1, 0, 0, 0],
        scale: [2, 1, 1, 1],
      },
      preparation: {
        columns: [
          { name: "age", kind: "numeric", fill: 55 },
          { name: "sex", kind: "onehot", categories: ["F", "M"], fill: "F" },
        ],
      },
    };
    const training = {
      round: 2,
      global: [{ name: "0.dense.bias", shape: [1], dtype: "float32" as const, data: new Float32Array([0.5]) }],
      aggregatorState: {},
      history: [],
    };
    const folder = await openRunFolder(dir, "tables", { resume: false });
    await writeBreakpoint(folder, "plan-1", inputs, training);
    const saved = await readBreakpoint(await openRunFolder(dir, "tables", { resume: true }), "plan-1");
    assert.deepEqual(saved?.inputs, inputs);
    assert.equal(saved?.training.round, 2);
  });

  const round = (n: number) => ({
    event: "round",
    round: n,
    rounds: 9,
    nodes: [
      { node: "n1", name: "site-a", samples: 10, loss: 1 / n, seconds: 1 },
      ...(n > 1 ? [{ node: "n2", name: "site-b", samples: 20, loss: 2 / n, seconds: 1 }] : []),
    ],
    failed: [],
    loss: 1 / n,
    metrics: {},
    seconds: 1,
    time: 1_800_000_000 + n,
  });
  const inputs: RunInputs = { sampleShape: [1] };
  const state = (history: unknown[]) => ({
    round: history.length,
    global: [{ name: "b", shape: [1], dtype: "float32" as const, data: new Float32Array([history.length]) }],
    aggregatorState: {},
    history,
  });
  const lines = (path: string) =>
    readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));

  it("appends each round to history.jsonl and the TensorBoard files once, as a whole rewrite would write them", async () => {
    const folder = await openRunFolder(dir, "journal", { resume: false });
    const history: unknown[] = [];
    for (let n = 1; n <= 3; n++) {
      history.push(round(n));
      await writeBreakpoint(folder, "plan-1", inputs, state([...history]));
    }
    await writeBreakpoint(folder, "plan-1", inputs, state([...history])); // save() again: nothing new to append
    assert.deepEqual(lines(join(folder.dir, "history.jsonl")), history);
    const saved = JSON.parse(readFileSync(join(folder.dir, "state.json"), "utf8"));
    assert.equal(saved.historyLines, 3);
    assert.equal(saved.history, undefined, "the breakpoint counts the journal's lines instead of copying them");
    // site-b joined in round 2: its file starts with the version record like the others.
    for (const [name, bytes] of tensorboardFiles(history)) {
      assert.deepEqual(new Uint8Array(readFileSync(join(folder.dir, name))), new Uint8Array(bytes), name);
    }
  });

  it("resumes from the breakpoint's rounds: a round journaled after it, or torn, is dropped and the logs rebuilt", async () => {
    const folder = await openRunFolder(dir, "crashed", { resume: false });
    await writeBreakpoint(folder, "plan-1", inputs, state([round(1)]));
    await writeBreakpoint(folder, "plan-1", inputs, state([round(1), round(2)]));
    // Killed after journaling round 3, before its breakpoint, while a fourth line was half written.
    await folder.appendHistory([round(1), round(2), round(3)]);
    appendFileSync(join(folder.dir, "history.jsonl"), '{"event":"round","rou');
    const resumed = await openRunFolder(dir, "crashed", { resume: true });
    const saved = await readBreakpoint(resumed, "plan-1");
    assert.deepEqual(saved?.training.history, [round(1), round(2)]);
    await restoreHistory(resumed, saved?.training.history ?? []);
    assert.deepEqual(lines(join(resumed.dir, "history.jsonl")), [round(1), round(2)]);
    await writeBreakpoint(resumed, "plan-1", inputs, state([round(1), round(2), round(3)]));
    assert.deepEqual(lines(join(resumed.dir, "history.jsonl")), [round(1), round(2), round(3)]);
    for (const [name, bytes] of tensorboardFiles([round(1), round(2), round(3)])) {
      assert.deepEqual(new Uint8Array(readFileSync(join(resumed.dir, name))), new Uint8Array(bytes), name);
    }
    assert.deepEqual(readdirSync(join(resumed.dir, "tensorboard")).sort(), ["pooled", "site-a", "site-b"]);
  });

  it("keeps the old state.json when the journal cannot be appended to", async () => {
    const folder = await openRunFolder(dir, "unjournaled", { resume: false });
    await writeBreakpoint(folder, "plan-1", inputs, state([round(1)]));
    const before = readFileSync(join(folder.dir, "state.json"), "utf8");
    rmSync(join(folder.dir, "history.jsonl"));
    mkdirSync(join(folder.dir, "history.jsonl")); // appending to it now fails
    await assert.rejects(writeBreakpoint(folder, "plan-1", inputs, state([round(1), round(2)])));
    assert.equal(readFileSync(join(folder.dir, "state.json"), "utf8"), before);
    assert.deepEqual(
      readdirSync(folder.dir).filter((name) => name.endsWith(".tmp")),
      [],
      "no temp file left",
    );
  });

  it("refuses to resume when history.jsonl lacks rounds the breakpoint counts", async () => {
    const folder = await openRunFolder(dir, "truncated", { resume: false });
    await writeBreakpoint(folder, "plan-1", inputs, state([round(1), round(2)]));
    writeFileSync(join(folder.dir, "history.jsonl"), `${JSON.stringify(round(1))}\n`);
    await assert.rejects(
      readBreakpoint(await openRunFolder(dir, "truncated", { resume: true }), "plan-1"),
      /stands for 2 round\(s\) of history.jsonl, which holds 1/,
    );
  });

  it("still resumes a version 1 breakpoint, which held the history itself", async () => {
    const folder = await openRunFolder(dir, "older", { resume: false });
    await folder.writeState({
      version: 1,
      planId: "plan-1",
      round: 1,
      params: [],
      aggregatorState: {},
      sampleShape: [1],
      history: [round(1)],
    });
    const saved = await readBreakpoint(await openRunFolder(dir, "older", { resume: true }), "plan-1");
    assert.deepEqual(saved?.training.history, [round(1)]);
  });
});
