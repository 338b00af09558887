// Runs every test/**/*.test.ts with node:test (Node 20 has no glob for --test): the end-to-end files
// first, as they take longest, so the unit files fill the other slot. `--unit` leaves out test/e2e.
// Other args are passed through, e.g. `npm test -- --test-name-pattern=fedavg` or a list of files.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return find(path);
      return name.endsWith(".test.ts") ? [path] : [];
    });
}

const unit = process.argv.includes("--unit");
const args = process.argv.slice(2).filter((a) => a !== "--unit");
const e2e = join("test", "e2e");
const all = find("test");
const ordered = [...all.filter((f) => f.startsWith(e2e)), ...all.filter((f) => !f.startsWith(e2e))];
const files = args.some((a) => a.endsWith(".ts")) ? [] : ordered.filter((f) => !unit || !f.startsWith(e2e));
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...args, ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
