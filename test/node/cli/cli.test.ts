import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PNG } from "pngjs";
import { probeBackend } from "../../../src/ml/backend-probe.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { readableKeys } from "../../../src/node/config/node-config.js";
import { nodeCli } from "../../support/cli.js";
import { datasetAdd } from "../../support/dataset-add.js";

const root = mkdtempSync(join(tmpdir(), "fbm-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = nodeCli;

function file(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

describe("fbm-node CLI", () => {
  const home = join(root, "home");
  const good = file("heart.csv", "age,chol,target\n63,233,1\n37,250,0\n41,204.5,1\n");

  before(async () => {
    const init = await run("init", "--home", home, "--name", "site-a", "--json");
    assert.equal(init.code, 0, init.stderr);
    assert.match(JSON.parse(init.stdout).node_id, /^node_[0-9a-f]{12}$/);
    const add = await run(...datasetAdd(home, { type: "csv", path: good, tags: "heart,site-a" }));
    assert.equal(add.code, 0, add.stderr);
  });

  const badInput: [string, string[], RegExp][] = [
    [
      "a missing CSV",
      ["--path", join(root, "nope.csv"), "--tags", "x"],
      /^Cannot register dataset: file ".*nope\.csv" does not exist$/,
    ],
    [
      "a ragged row",
      ["--path", file("ragged.csv", "a,b,c\n1,2,3\n4,5\n"), "--tags", "x"],
      /"[^"]*ragged\.csv": line 3 has 2 fields, the header has 3$/,
    ],
    [
      "a non-numeric cell",
      ["--path", file("word.csv", "a,age\n1,2\n3,4\n5,abc\n"), "--tags", "x"],
      /: column "age" has a non-numeric value "abc" on line 4 among numbers; fix it, or leave the cell empty if the value is missing$/,
    ],
    [
      "a value beyond float64",
      ["--path", file("inf.csv", "a,age\n1,2\n3,1e400\n"), "--tags", "x"],
      /: column "age" has the value "1e400" on line 3, beyond a 32-bit float \(±3\.4e38\); fix: rescale the column$/,
    ],
    [
      "a value beyond float32",
      ["--path", file("f32.csv", "a,age\n-1e39,2\n"), "--tags", "x"],
      /: column "a" has the value "-1e39" on line 2, beyond a 32-bit float/,
    ],
    [
      "a huge integer",
      ["--path", file("int.csv", `a,age\n1${"0".repeat(40)},2\n`), "--tags", "x"],
      /: column "a" has the value "1000+" on line 2, beyond a 32-bit float/,
    ],
    [
      "an unknown target column",
      ["--path", good, "--tags", "x", "--target", "diagnosis"],
      /: no column "diagnosis" \(columns: age, chol, target\)$/,
    ],
    [
      "a target and no feature column",
      ["--path", file("target-only.csv", "target\n1\n0\n"), "--tags", "x", "--target", "target"],
      /: its only column is the target "target"; a plan needs at least one feature column$/,
    ],
    [
      "an unknown flag",
      ["--path", good, "--tags", "x", "--colour", "red"],
      /^Unknown option '--colour' \(see --help\)$/,
    ],
    ["no --tags", ["--path", good], /^Required option '--tags <tags>' not specified/],
    ["empty --tags", ["--path", good, "--tags", " , "], /^--tags needs at least one tag/],
    [
      "tags conflicting with a registered dataset",
      ["--path", good, "--tags", "heart"],
      /conflict with dataset "csv-[0-9a-f]{6}"/,
    ],
    [
      "--labels on a csv dataset",
      ["--path", good, "--tags", "x", "--labels", good],
      /^--labels applies to idx datasets only$/,
    ],
  ];
  /** `dataset add ARGS` must exit 2 with one `Error:` line matching `message`, the catalogue untouched. */
  async function expectRefused(args: string[], message: RegExp): Promise<void> {
    const catalogue = join(home, "catalogue.json");
    const before = readFileSync(catalogue);
    const result = await run("dataset", "add", "--home", home, ...args, "--json");
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0].replace(/^Error: /, ""), message);
    assert.ok(lines[0].startsWith("Error: "));
    assert.deepEqual(readFileSync(catalogue), before);
  }

  for (const [name, args, message] of badInput) {
    it(`dataset add with ${name} exits 2, prints one error line and leaves the catalogue as it was`, async () => {
      await expectRefused(["--type", "csv", ...args], message);
    });
  }

  /** An IDX file of unsigned bytes: magic, dimensions, then `data` (which may be shorter than announced). */
  const idx = (name: string, magic: number, dims: number[], data: number[]) => {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => {
      header.writeUInt32BE(d, 4 + 4 * i);
    });
    const path = join(root, name);
    writeFileSync(path, Buffer.concat([header, Buffer.from(data)]));
    return path;
  };
  const noClasses = join(root, "flat-folder");
  const corrupt = join(root, "corrupt-png");
  const badImageInput: [string, () => string[], RegExp][] = [
    [
      "a wrong IDX magic number",
      () => [
        "--type",
        "idx",
        "--path",
        idx("bad-magic", 0x12345678, [2, 1, 2], [1, 2, 3, 4]),
        "--labels",
        idx("l1", 0x801, [2], [0, 1]),
      ],
      /bad-magic": not an IDX images file \(magic number 0x12345678/,
    ],
    [
      "a truncated IDX file",
      () => [
        "--type",
        "idx",
        "--path",
        idx("short-idx", 0x803, [2, 1, 2], [1, 2, 3]),
        "--labels",
        idx("l2", 0x801, [2], [0, 1]),
      ],
      /short-idx": the file is truncated/,
    ],
    [
      "more labels than images",
      () => [
        "--type",
        "idx",
        "--path",
        idx("two-imgs", 0x803, [2, 1, 2], [1, 2, 3, 4]),
        "--labels",
        idx("three-lbls", 0x801, [3], [0, 1, 1]),
      ],
      /holds 2 images but labels file "[^"]*three-lbls" holds 3 labels/,
    ],
    [
      "a folder without class sub-folders",
      () => {
        mkdirSync(noClasses, { recursive: true });
        writeFileSync(join(noClasses, "loose.png"), "not a folder of classes");
        return ["--type", "images", "--path", noClasses];
      },
      /flat-folder": it has no class sub-folders/,
    ],
    [
      "a corrupt PNG",
      () => {
        mkdirSync(join(corrupt, "cats"), { recursive: true });
        const png = new PNG({ width: 2, height: 2 });
        writeFileSync(join(corrupt, "cats", "ok.png"), PNG.sync.write(png));
        writeFileSync(join(corrupt, "cats", "broken.png"), Buffer.from("\x89PNG\r\n\x1a\n garbage"));
        return ["--type", "images", "--path", corrupt];
      },
      /image "[^"]*broken\.png" cannot be decoded/,
    ],
  ];
  for (const [name, args, message] of badImageInput) {
    it(`dataset add with ${name} exits 2, names the problem and leaves the catalogue as it was`, async () => {
      await expectRefused([...args(), "--tags", "imgs"], message);
    });
  }

  it("dataset add / list / show / rm round trip with --json", async () => {
    const path = file("more.csv", "x,y\n0.5,1\n1.5,0\n");
    const added = await run(
      ...datasetAdd(home, {
        type: "csv",
        path,
        tags: "more",
        name: "More",
        description: "two rows",
        target: "y",
        json: true,
      }),
    );
    assert.equal(added.code, 0, added.stderr);
    const entry = JSON.parse(added.stdout) as DatasetEntry;
    assert.deepEqual(
      [entry.name, entry.type, entry.tags, entry.shape, entry.sampleCount, entry.target, entry.description, entry.path],
      ["More", "csv", ["more"], [2, 2], 2, "y", "two rows", path],
    );
    assert.deepEqual(entry.columns, [
      { name: "x", dtype: "float64", kind: "numeric", missing: 0 },
      { name: "y", dtype: "int64", kind: "binary", missing: 0 },
    ]);

    const list = await run("dataset", "list", "--home", home, "--json");
    const [first, second] = JSON.parse(list.stdout) as DatasetEntry[];
    assert.deepEqual(
      [first.name, second.name],
      [`csv-${first.id.slice(3, 9)}`, "More"],
      "without --name: <type>-<id>, never the file name",
    );
    const show = await run("dataset", "show", entry.id, "--home", home, "--json");
    const { privacy, ...shown } = JSON.parse(show.stdout);
    assert.deepEqual(shown, entry);
    assert.deepEqual(privacy, { budgetFrom: "none", spent: 0, delta: 1e-5, rounds: 0 });

    // A dataset's own privacy budget: set, shown with what is left, cleared; bad values exit 2 and change nothing.
    const set = await run("dataset", "set", entry.id, "max_epsilon", "3", "--home", home, "--json");
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).privacy, {
      budget: 3,
      left: 3,
      budgetFrom: "dataset",
      spent: 0,
      delta: 1e-5,
      rounds: 0,
    });
    const human = await run("dataset", "show", entry.id, "--home", home);
    assert.match(human.stderr, /ε budget: +3 \(dataset\)\nε spent: +0\.000 at δ 0\.00001\nε left: +3\.000/);
    const catalogue = readFileSync(join(home, "catalogue.json"));
    for (const [args, message] of [
      [["max_epsilon", "-2"], 'Error: max_epsilon must be a non-negative number like 8, or none, got "-2"\n'],
      [["epsilon", "2"], 'Error: Unknown dataset setting "epsilon" (settings: max_epsilon)\n'],
    ] as const) {
      const bad = await run("dataset", "set", entry.id, ...args, "--home", home);
      assert.deepEqual([bad.code, bad.stderr], [2, message]);
    }
    assert.equal((await run("dataset", "set", "ds_000000000000", "max_epsilon", "1", "--home", home)).code, 2);
    assert.deepEqual(readFileSync(join(home, "catalogue.json")), catalogue);
    await run("dataset", "set", entry.id, "max_epsilon", "none", "--home", home);
    const cleared = JSON.parse((await run("dataset", "show", entry.id, "--home", home, "--json")).stdout);
    assert.equal(cleared.maxEpsilon, undefined);
    assert.equal(cleared.privacy.budgetFrom, "none");

    const rm = await run("dataset", "rm", entry.id, "--home", home, "--json");
    assert.deepEqual([rm.code, JSON.parse(rm.stdout)], [0, { removed: entry.id }]);
    const again = await run("dataset", "show", entry.id, "--home", home);
    assert.equal(again.code, 2);
    assert.equal(
      again.stderr,
      `Error: No dataset with id "${entry.id}" in this node's catalogue; see \`fbm-node dataset list\`\n`,
    );
  });

  it("dataset add --type idx and --type images record shape, classes and labels path", async () => {
    const idxFile = (name: string, magic: number, dims: number[], data: number[]) => {
      const header = Buffer.alloc(4 + 4 * dims.length);
      header.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => {
        header.writeUInt32BE(d, 4 + 4 * i);
      });
      const path = join(root, name);
      writeFileSync(path, Buffer.concat([header, Buffer.from(data)]));
      return path;
    };
    const images = idxFile("imgs-idx3-ubyte", 0x803, [2, 1, 3], [0, 1, 2, 3, 4, 5]);
    const labels = idxFile("lbls-idx1-ubyte", 0x801, [2], [7, 7]);
    const idx = await run(...datasetAdd(home, { type: "idx", path: images, labels, tags: "digits", json: true }));
    assert.equal(idx.code, 0, idx.stderr);
    const idxEntry = JSON.parse(idx.stdout) as DatasetEntry;
    assert.deepEqual(
      [idxEntry.name, idxEntry.shape, idxEntry.sampleCount, idxEntry.labelsPath],
      [`idx-${idxEntry.id.slice(3, 9)}`, [2, 1, 3, 1], 2, labels],
    );
    assert.deepEqual(idxEntry.classes.at(-1), { name: "7", count: 2 });

    const dir = join(root, "xray");
    for (const cls of ["normal", "pneumonia"]) {
      mkdirSync(join(dir, cls), { recursive: true });
      writeFileSync(join(dir, cls, "1.png"), PNG.sync.write(new PNG({ width: 3, height: 2 })));
    }
    const img = await run(...datasetAdd(home, { type: "images", path: dir, tags: "xray", json: true }));
    assert.equal(img.code, 0, img.stderr);
    const imgEntry = JSON.parse(img.stdout) as DatasetEntry;
    assert.deepEqual(
      [imgEntry.name, imgEntry.shape, imgEntry.classes.map((c) => c.name)],
      [`images-${imgEntry.id.slice(3, 9)}`, [2, 2, 3, 1], ["normal", "pneumonia"]],
    );
    for (const entry of [idxEntry, imgEntry])
      assert.equal((await run("dataset", "rm", entry.id, "--home", home)).code, 0);
  });

  it("without --json, human output goes to stderr and stdout stays empty", async () => {
    const list = await run("dataset", "list", "--home", home);
    assert.equal(list.code, 0);
    assert.equal(list.stdout, "");
    assert.match(
      list.stderr,
      /^ID\s+NAME\s+TYPE\s+SAMPLES\s+SHAPE\s+TAGS\n.*csv-[0-9a-f]{6}\s+csv\s+3\s+3×3\s+heart,site-a\n$/,
    );
  });

  it("init refuses to overwrite an existing home (exit 2)", async () => {
    const config = readFileSync(join(home, "config.json"));
    const result = await run("init", "--home", home);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^Error: A node home already exists at .*; use another --home or remove it first\n$/);
    assert.deepEqual(readFileSync(join(home, "config.json")), config);
  });

  it("commands on a folder without a home say to run init", async () => {
    const missing = join(root, "no-home");
    const result = await run("dataset", "list", "--home", missing);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `Error: No node home at ${missing}: run \`fbm-node init --home ${missing}\` first\n`);
  });

  it("config get/set: values on stdout, bad values exit 2", async () => {
    assert.equal((await run("config", "get", "plan_approval", "--home", home)).stdout, "true\n");
    assert.equal((await run("config", "set", "plan_approval", "false", "--home", home)).code, 0);
    assert.equal((await run("config", "get", "plan_approval", "--home", home, "--json")).stdout, "false\n");
    const bad = await run("config", "set", "plan_approval", "maybe", "--home", home);
    assert.deepEqual(
      [bad.code, bad.stderr],
      [2, 'Error: Config key "plan_approval" must be true or false, got "maybe"\n'],
    );
  });

  it("config set says whether a running node applies the change or needs a restart", async () => {
    assert.equal(
      (await run("config", "set", "min_count", "12", "--home", home)).stderr,
      "Set min_count = 12 (a running `fbm-node serve` applies it from its next task)\n",
    );
    assert.equal(
      (await run("config", "set", "name", "site-z", "--home", home)).stderr,
      "Set name = site-z (restart `fbm-node serve` for it to take effect)\n",
    );
  });

  it("config list shows every key with its value, when it applies and what it means", async () => {
    const human = await run("config", "list", "--home", home);
    assert.equal(human.code, 0);
    const lines = human.stderr.trimEnd().split("\n");
    assert.match(lines[0], /^KEY\s+VALUE\s+APPLIES\s+MEANING$/);
    for (const key of readableKeys)
      assert.ok(
        lines.some((l) => l.startsWith(`${key} `)),
        `${key} in\n${human.stderr}`,
      );
    assert.match(human.stderr, /^plan_approval\s+(true|false)\s+live\s+true: train only plans the operator approved/m);
    assert.match(human.stderr, /^researcher\s+http\S+\s+on restart\s+/m);
    assert.match(human.stderr, /^node_id\s+node_[0-9a-f]{12}\s+read-only/m);
    const json = JSON.parse((await run("config", "list", "--home", home, "--json")).stdout);
    assert.deepEqual(Object.keys(json), [...readableKeys]);
  });

  it("--quiet with --verbose, or an unknown --log-format, is a usage error", async () => {
    const both = await run("serve", "--home", home, "--quiet", "--verbose");
    assert.deepEqual([both.code, both.stderr], [2, "Error: --quiet and --verbose contradict each other: give one\n"]);
    const format = await run("gui", "--home", home, "--log-format", "xml");
    assert.deepEqual([format.code, format.stderr], [2, 'Error: Invalid --log-format "xml": give text or json\n']);
    const quiet = await run("--log-format", "xml", "dataset", "list", "--home", home); // a command that never logs
    assert.deepEqual([quiet.code, quiet.stderr], [2, 'Error: Invalid --log-format "xml": give text or json\n']);
    const listen = await run("gui", "--home", home, "--listen", "localhost");
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /^Error: Invalid --listen "localhost": give HOST:PORT/);
    const guiListen = await run("serve", "--home", home, "--gui-listen", "localhost");
    assert.equal(guiListen.code, 2);
    assert.match(guiListen.stderr, /^Error: Invalid --gui-listen "localhost": give HOST:PORT/);
  });

  it("serve with a malformed --researcher exits 2 before connecting", async () => {
    const result = await run("serve", "--home", home, "--researcher", "not a url");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^Error: Config key "researcher" must be an http\(s\) URL/);
  });

  it("--version prints the package version; --help exits 0; a group without its command exits 2", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    assert.deepEqual(await run("--version"), {
      code: 0,
      stdout: `${pkg.version}\ntfjs backend: ${probeBackend()}\n`,
      stderr: "",
    });
    const help = await run("dataset", "add", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--tags <tags>/);
    assert.match(help.stdout, /--home <dir>/);
    assert.equal((await run("dataset")).code, 2);
  });
});
