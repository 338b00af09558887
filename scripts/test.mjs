// Runs every test/**/*.test.ts with node:test (Node 20 has no glob for --test): the end-to-end files
// first, as they take longest, so the unit files fill the other slot. `--unit` leaves out test/e2e.
// Other args are passed through, e.g. `npm test -- --test-name-pattern=fedavg` or a list of files.
//
// A test file's process that has not finished after FILE_TIMEOUT_MS is stopped and reported as timed
// out, instead of holding the run until CI's own limit, and such a file is run once more on its own:
// Node 20 can hang a process for good while it loads its modules through tsx's hooks thread (the main
// thread waiting on the hooks worker, which waits on nothing: nodejs/node#50948's family of
// deadlocks), seen once in a CI run, 0.7 s of CPU into a file that passes alone. The retry is said on
// stderr; a file that times out again, or any other failure, fails the run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Longer than any file takes on a busy 2-core machine (the longest, end-to-end ones, take a few minutes);
 * FBM_TEST_FILE_TIMEOUT_MS sets another (to try the retry).
 */
const FILE_TIMEOUT_MS = Number(process.env.FBM_TEST_FILE_TIMEOUT_MS) || 20 * 60 * 1000;

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
/** Test files named on the command line (anything not a flag); none: every file. */
const named = args.filter((a) => !a.startsWith("--"));
const files = named.length > 0 ? [] : ordered.filter((f) => !unit || !f.startsWith(e2e));
const dir = mkdtempSync(join(tmpdir(), "fbm-test-"));

/** One node:test run: its exit status and the files it stopped for running past FILE_TIMEOUT_MS. */
function run(runArgs) {
  const tap = join(dir, "run.tap");
  const result = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-concurrency=2",
      `--test-timeout=${FILE_TIMEOUT_MS}`,
      `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
      "--test-reporter-destination=stdout",
      "--test-reporter=tap",
      `--test-reporter-destination=${tap}`,
      ...runArgs,
    ],
    { stdio: "inherit" },
  );
  // No TAP when the runner itself could not start: its status says so.
  return { status: result.status ?? 1, ...topLevelFailures(existsSync(tap) ? readFileSync(tap, "utf8") : "") };
}

/**
 * The run's top-level failures in its TAP: a file stopped for its time is one named by its path with
 * `failureType: 'testTimeoutFailure'`; a file that ran reports its own tests and suites at the top.
 */
function topLevelFailures(tap) {
  const timedOut = [];
  let others = 0;
  const lines = tap.split("\n");
  lines.forEach((line, i) => {
    const failed = /^not ok \d+ - (.*)$/.exec(line);
    if (!failed) return;
    const end = lines.indexOf("  ...", i);
    const block = lines.slice(i + 1, end < 0 ? undefined : end).join("\n");
    const file = [...files, ...named].find((f) => resolve(f) === failed[1]);
    if (file && block.includes("failureType: 'testTimeoutFailure'")) timedOut.push(file);
    else others++;
  });
  return { timedOut, others };
}

let status;
try {
  const first = run([...args, ...files]);
  status = first.status;
  if (status !== 0 && first.timedOut.length > 0 && first.others === 0) {
    const passThrough = args.filter((a) => a.startsWith("--"));
    console.error(`\nStopped after ${FILE_TIMEOUT_MS / 1000} s: ${first.timedOut.join(", ")}. Running once more.`);
    const again = run([...passThrough, ...first.timedOut]);
    status = again.status;
    console.error(
      status === 0 ? `Passed on the second run: ${first.timedOut.join(", ")}` : "Failed on the second run too.",
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
