import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { DEADLINE_MS } from "../../scripts/lib/federation.js";

const repo = resolve(import.meta.dirname, "../..");
const notebook = join(repo, "examples", "notebook.ipynb");
const tslab = join(repo, "node_modules", "tslab", "bin", "tslab");

/**
 * Debian's Jupyter (`jupyter nbconvert --execute`, which runs nbclient), installed by `.ci/run`. Outside
 * CI (`FBM_CI` unset) a machine without it skips the test, saying why; in CI its absence is a failure.
 */
function jupyterMissing(): string | false {
  const probe = spawnSync("jupyter", ["nbconvert", "--version"], { encoding: "utf8" });
  if (probe.status === 0) return false;
  const why = "jupyter nbconvert is not installed (apt-get install jupyter-nbconvert python3-nbclient)";
  if (process.env.FBM_CI) throw new Error(why);
  return why;
}

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}

const joined = (text: string | string[] | undefined) => (Array.isArray(text) ? text.join("") : (text ?? ""));

describe("tslab as a devDependency", () => {
  it("leaves node_modules/.bin/tsc to the project's TypeScript (its own 5.0 is nested under tslab in the lockfile)", () => {
    const bin = realpathSync(join(repo, "node_modules", ".bin", "tsc"));
    assert.equal(bin, realpathSync(createRequire(import.meta.url).resolve("typescript/bin/tsc")));
    const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as {
      packages: Record<string, unknown>;
    };
    assert.ok("node_modules/tslab/node_modules/@tslab/typescript-for-tslab" in lock.packages);
  });
});

describe("examples/notebook.ipynb in the tslab kernel", { skip: jupyterMissing() }, () => {
  it("starts a federation, steps rounds, changes settings and draws the curves inline", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-notebook-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // The kernel registered as `tslab install` would, but into this folder only (JUPYTER_PATH).
    const kernels = join(dir, "jupyter", "kernels", "tslab");
    mkdirSync(kernels, { recursive: true });
    writeFileSync(
      join(kernels, "kernel.json"),
      JSON.stringify({
        argv: [process.execPath, tslab, "kernel", "--config-path", "{connection_file}"],
        display_name: "TypeScript",
        language: "typescript",
      }),
    );
    assert.ok(existsSync(createRequire(import.meta.url).resolve("tslab")), "tslab is a devDependency");
    const { NODE_OPTIONS: _, ...env } = process.env;
    const child = spawn(
      "jupyter",
      ["nbconvert", "--to", "notebook", "--execute", "--output-dir", dir, "--output", "executed", notebook],
      {
        env: {
          ...env,
          JUPYTER_PATH: join(dir, "jupyter"),
          JUPYTER_CONFIG_DIR: join(dir, "config"),
          JUPYTER_DATA_DIR: join(dir, "data"),
          JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    const code = await new Promise<number | null>((done) => child.on("exit", done));
    clearTimeout(timer);
    assert.equal(code, 0, `jupyter nbconvert --execute failed:\n${stderr}`);

    const executed = JSON.parse(readFileSync(join(dir, "executed.ipynb"), "utf8")) as {
      cells: { cell_type: string; outputs?: Output[] }[];
    };
    const outputs = executed.cells.flatMap((c) => c.outputs ?? []);
    assert.deepEqual(
      outputs.filter((o) => o.output_type === "error").map((o) => `${o.ename}: ${o.evalue}`),
      [],
    );
    const stdout = outputs
      .filter((o) => o.output_type === "stream" && o.name === "stdout")
      .map((o) => joined(o.text))
      .join("");

    // Four rounds on the three demo nodes (20% of each node's rows held out for testing).
    const rounds = [
      ...stdout.matchAll(/^round (\d+): loss ([\d.]+), accuracy ([\d.]+) before training, on (\d) nodes/gm),
    ];
    assert.deepEqual(
      rounds.map((m) => [Number(m[1]), Number(m[4])]),
      [
        [1, 3],
        [2, 3],
        [3, 3],
        [4, 3],
      ],
      stdout,
    );
    assert.match(stdout, /\(\d+ \+ \d+ \+ \d+ rows\)/);
    const losses = rounds.map((m) => Number(m[2]));
    assert.ok(losses[3] < losses[0], `the loss went down: ${losses.join(", ")}`);
    // The settings changed after round 2 were those rounds 3 and 4 ran with.
    assert.match(stdout, /^aggregator \{"name":"fedavgm","momentum":0.5,"serverLr":1.5\}, 1 epoch\(s\)\nround 3:/m);
    const final = /accuracy of the global model: ([\d.]+) before round 1 -> ([\d.]+) after round (\d+)/.exec(stdout);
    assert.ok(final, stdout);
    const [, before, after, last] = final;
    assert.equal(last, "4", stdout);
    assert.ok(Number(after) > Number(before) + 0.1, `accuracy improved: ${before} -> ${after}`);

    // The report's charts, as SVG outputs: the loss and the global accuracy, 4 rounds on each line.
    const svgs = outputs.flatMap((o) => (o.data?.["image/svg+xml"] ? [joined(o.data["image/svg+xml"])] : []));
    assert.deepEqual(
      svgs.map((s) => /^<svg [^>]*data-metric="([^"]+)"/.exec(s)?.[1]),
      ["loss", "global/accuracy"],
    );
    for (const svg of svgs) {
      const series = [...svg.matchAll(/data-series="([^"]+)"><polyline [^>]*points="([^"]+)"/g)];
      assert.deepEqual(series.map((m) => m[1]).sort(), ["hospital-a", "hospital-b", "hospital-c", "pooled"]);
      for (const [, , points] of series) assert.equal(points.split(" ").length, 4);
    }

    // The notebook's last cell stopped the nodes and removed its folder.
    const folder = /^3 nodes serving \(folder (.+)\)$/m.exec(stdout)?.[1];
    assert.ok(folder !== undefined, stdout);
    assert.equal(existsSync(folder), false, `${folder} was removed`);
  });
});
