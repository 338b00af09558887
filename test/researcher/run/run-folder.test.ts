import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { saveModel } from "../../../src/ml/export.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { jsonPieces, openRunFolder } from "../../../src/researcher/run/run-folder.js";
import { createTrace } from "../../../src/researcher/server/trace.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-run-folder-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("run folder", () => {
  it("writes state.json from JSON text in pieces, pulled one after another; any other value whole", async () => {
    const folder = await openRunFolder(dir, "pieces", { resume: false });
    const pulled: number[] = [];
    function* text() {
      for (const [i, piece] of ['{"round":', "3", ',"json":"x"}'].entries()) {
        pulled.push(i);
        yield piece;
      }
    }
    await folder.writeState(jsonPieces(text()));
    assert.deepEqual(pulled, [0, 1, 2]);
    assert.equal(readFileSync(join(folder.dir, "state.json"), "utf8"), '{"round":3,"json":"x"}');
    await folder.writeState({ round: 4, json: "y" });
    assert.deepEqual(await (await openRunFolder(dir, "pieces", { resume: true })).readState(), { round: 4, json: "y" });
  });

  it("is created on the first write, replaced atomically, and refused without --resume once it holds a run", async () => {
    const folder = await openRunFolder(dir, "study", { resume: false });
    assert.equal(existsSync(folder.dir), false);
    await folder.writeState({ round: 1 });
    await folder.writeHistory([{ round: 1 }, { round: 2 }]);
    assert.deepEqual(readdirSync(folder.dir).sort(), ["history.jsonl", "state.json"]);
    await assert.rejects(
      openRunFolder(dir, "study", { resume: false }),
      (e) => e instanceof InputError && /pass --resume/.test(e.message),
    );
    const resumed = await openRunFolder(dir, "study", { resume: true });
    assert.deepEqual(await resumed.readState(), { round: 1 });
  });

  it("with overwrite keeps the old run until the new run's first write, then holds only the new run", async () => {
    const old = await openRunFolder(dir, "again", { resume: false });
    await old.writeState({ round: 5 });
    await old.writeHistory([{ round: 5 }]);
    await mkdir(old.modelDir);
    await writeFile(join(old.modelDir, "model.json"), "{}");
    await old.writeNodeKeys({ n1: "fp" });

    const fresh = await openRunFolder(dir, "again", { resume: false, overwrite: true });
    assert.equal(await fresh.readState(), undefined, "nothing to continue from");
    assert.deepEqual(await fresh.readNodeKeys(), {}, "the old run's key bindings go with it");
    // A run that fails before writing anything replaced nothing.
    assert.deepEqual(JSON.parse(readFileSync(join(old.dir, "state.json"), "utf8")), { round: 5 });
    await fresh.writeState({ round: 1 });
    assert.deepEqual(readdirSync(fresh.dir), ["state.json"]);
    assert.deepEqual(JSON.parse(readFileSync(join(fresh.dir, "state.json"), "utf8")), { round: 1 });
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes("again")),
      ["again"],
      "no old copy left beside it",
    );
  });

  it("with overwrite keeps the old run whole until the new run's first breakpoint, whatever it wrote before", async () => {
    const old = await openRunFolder(dir, "kept", { resume: false });
    await old.writeState({ round: 7 });
    await old.writeHistory([{ round: 7 }]);
    await old.writeNodeKeys({ n1: "old-fp" });
    await old.writeJson("done.json", { event: "done", rounds: 7 });
    const before = () => readdirSync(old.dir).sort();
    const oldFiles = before();

    // The new run binds a node and writes its settings, then fails before round 1.
    const failed = await openRunFolder(dir, "kept", { resume: false, overwrite: true });
    await failed.writeNodeKeys({ n2: "new-fp" });
    await failed.writeJson("experiment.json", { name: "kept" });
    await failed.appendHistory([{ round: 1 }]);
    assert.deepEqual(before(), oldFiles, "the finished run is untouched");
    assert.deepEqual(JSON.parse(readFileSync(join(old.dir, "done.json"), "utf8")), { event: "done", rounds: 7 });

    // The next attempt clears what the failed one staged, and replaces the run at its first breakpoint.
    const next = await openRunFolder(dir, "kept", { resume: false, overwrite: true });
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes("kept")),
      ["kept"],
      "the failed attempt's staged folder is gone",
    );
    await next.writeJson("experiment.json", { name: "kept", attempt: 2 });
    await next.appendHistory([{ round: 1 }]);
    await next.writeState({ round: 1 });
    assert.deepEqual(readdirSync(next.dir).sort(), ["experiment.json", "history.jsonl", "state.json"]);
    await next.appendHistory([{ round: 1 }, { round: 2 }]);
    assert.equal(readFileSync(join(next.dir, "history.jsonl"), "utf8"), '{"round":1}\n{"round":2}\n');
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes("kept")),
      ["kept"],
    );
  });

  it("TensorBoard files are a side output: a write error is one warning, they stop, the run's own files go on", async () => {
    const warnings: string[] = [];
    const folder = await openRunFolder(dir, "side", { resume: false, warn: (l) => warnings.push(l) });
    const events = (n: number) =>
      new Map([[`tensorboard/n${n}/events`, { header: new Uint8Array(1), bytes: new Uint8Array(2) }]]);
    await folder.appendFiles(events(1));
    await folder.writeState({ round: 1 });
    // Mid-run, a file takes the TensorBoard folder's place (no chmod: CI may run as root).
    rmSync(join(folder.dir, "tensorboard"), { recursive: true });
    await writeFile(join(folder.dir, "tensorboard"), "in the way");
    await folder.appendFiles(events(2));
    await folder.writeFiles(new Map([["tensorboard/n3/events", new Uint8Array(3)]]));
    await folder.appendFiles(events(4));
    await folder.writeState({ round: 2 });
    await folder.appendHistory([{ round: 1 }, { round: 2 }]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0],
      /^Warning: stopped writing the TensorBoard files in .*side\/tensorboard: ENOTDIR.*; the run goes on/,
    );
    assert.deepEqual(JSON.parse(readFileSync(join(folder.dir, "state.json"), "utf8")), { round: 2 });
    // Checked before anyone is served: resuming into the same folder now fails up front.
    await assert.rejects(
      openRunFolder(dir, "side", { resume: true }),
      (e: InputError) =>
        e instanceof InputError &&
        /^Cannot write the TensorBoard files in .*side\/tensorboard: a file stands in the way; fix: /.test(e.message),
    );
  });

  it("keeps the TensorBoard files open between rounds (same bytes), reopens one replaced whole, closes them all on close", async () => {
    const folder = await openRunFolder(dir, "open-files", { resume: false });
    const tensorboard = join(folder.dir, "tensorboard");
    /** This process's open files under the run's TensorBoard folder (Linux: /proc/self/fd). */
    const open = () =>
      readdirSync("/proc/self/fd")
        .map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return "";
          }
        })
        .filter((target) => target.startsWith(tensorboard))
        .sort();
    const round = (n: number) =>
      new Map(
        ["a", "b"].map((run) => [
          `tensorboard/${run}/events`,
          { header: Uint8Array.of(9), bytes: Uint8Array.of(n, n) },
        ]),
      );
    await folder.appendFiles(round(1));
    await folder.appendFiles(round(2));
    const files = [join(tensorboard, "a", "events"), join(tensorboard, "b", "events")];
    assert.deepEqual(open(), files);
    for (const f of files) assert.deepEqual([...readFileSync(f)], [9, 1, 1, 2, 2]);
    // Rebuilt whole (a resume): the old file is closed, the next append goes to the new one.
    await folder.writeFiles(new Map([["tensorboard/a/events", Uint8Array.of(9, 7)]]));
    assert.deepEqual(open(), [files[1]]);
    await folder.appendFiles(round(3));
    assert.deepEqual([...readFileSync(files[0])], [9, 7, 3, 3]);
    assert.deepEqual([...readFileSync(files[1])], [9, 1, 1, 2, 2, 3, 3]);
    await folder.close();
    assert.deepEqual(open(), []);
  });

  it("is private whatever the umask: folders 0700, files 0600 (breakpoint, history, model, trace)", async () => {
    const umask = process.umask(0);
    try {
      const folder = await openRunFolder(dir, "private", { resume: false });
      await folder.writeState({ round: 1 });
      await folder.appendHistory([{ round: 1 }]);
      await folder.appendFiles(
        new Map([["tensorboard/n1/events", { header: new Uint8Array(1), bytes: new Uint8Array(2) }]]),
      );
      const plan = parsePlan({
        data: {},
        model: [{ dense: { units: 1 } }],
        loss: "meanSquaredError",
        optimizer: { name: "sgd", learning_rate: 0.1 },
      });
      const model = buildModel(plan, [2], { seed: 0 });
      const params = getParams(model);
      model.dispose();
      await saveModel(folder.modelDir, { plan, params, sampleShape: [2] });
      const trace = join(folder.dir, "trace.jsonl");
      createTrace(trace)({ rpc: "Feedback", value: {} });
      const mode = (path: string) => statSync(path).mode & 0o777;
      for (const d of [folder.dir, join(folder.dir, "tensorboard", "n1"), folder.modelDir])
        assert.equal(mode(d), 0o700, d);
      for (const f of [
        "state.json",
        "history.jsonl",
        "tensorboard/n1/events",
        "model/model.json",
        "model/weights.bin",
        "trace.jsonl",
      ])
        assert.equal(mode(join(folder.dir, f)), 0o600, f);
    } finally {
      process.umask(umask);
    }
  });

  it("a trace file that cannot be written is refused up front; one that fails later warns once and stops", () => {
    assert.throws(
      () => createTrace(join(dir, "no-such-folder", "trace.jsonl")),
      (e) =>
        e instanceof InputError && /^Cannot write the trace file .*: .*; fix: choose another --trace$/.test(e.message),
    );
    const path = join(dir, "full-trace.jsonl");
    const warnings: string[] = [];
    const trace = createTrace(path, { warn: (l) => warnings.push(l) });
    rmSync(path);
    mkdirSync(path); // the path becomes a folder: every later append fails
    trace({ rpc: "Feedback", value: {} });
    trace({ rpc: "Feedback", value: {} });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^Warning: stopped writing the trace file /);
  });

  it("refuses --resume and --overwrite together", async () => {
    await assert.rejects(
      openRunFolder(dir, "both", { resume: true, overwrite: true }),
      (e) => e instanceof InputError && /--resume and --overwrite/.test(e.message),
    );
  });
});
