// Runs every test/**/*.test.ts with node:test (Node 20 has no glob for --test). Extra args are
// passed through, e.g. `npm test -- --test-name-pattern=fedavg` or a list of files.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith(".test.ts") ? [path] : [];
  });
}

const args = process.argv.slice(2);
const files = args.some((a) => a.endsWith(".ts")) ? [] : find("test");
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", ...args, ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
