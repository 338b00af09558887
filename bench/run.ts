/**
 * Runs the benchmarks one after another, each in its own process (`node --import tsx bench/<name>.ts`),
 * after printing the machine. Benchmarks print figures and never assert timings; a benchmark that
 * crashes is reported and the others still run (exit code 1 at the end).
 * Run: npm run bench [-- --quick] [-- <name> …] [-- <flags>]   e.g. npm run bench -- --quick transfer aggregate
 * Names come first; the first flag other than `--quick` and everything after it is passed to each
 * benchmark run (e.g. npm run bench -- scale --only 1000x10k --rounds 2).
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { selectBackend } from "../src/ml/backend.js";
import { isQuick } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";

const dir = fileURLToPath(new URL(".", import.meta.url));
/** Known benchmarks first, in this order; any other bench/*.ts follows alphabetically. */
const order = ["train", "round", "wasm-cnn", "node-memory", "transfer", "aggregate", "scale", "secagg"];
const found = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3));
const all = [...order.filter((n) => found.includes(n)), ...found.filter((n) => !order.includes(n)).sort()];

const quick = isQuick();
const args = process.argv.slice(2);
const passAt = args.findIndex((a) => a.startsWith("--") && a !== "--quick");
const passed = passAt < 0 ? [] : args.slice(passAt);
const wanted = (passAt < 0 ? args : args.slice(0, passAt)).filter((a) => !a.startsWith("--"));
const unknown = wanted.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  console.error(`Unknown benchmark ${unknown.map((n) => `"${n}"`).join(", ")}: choose from ${all.join(", ")}`);
  process.exit(2);
}
const names = wanted.length > 0 ? all.filter((n) => wanted.includes(n)) : all;

/** Arguments per benchmark: wasm-cnn takes a step count, the others `--quick`. */
function argsFor(name: string): string[] {
  if (!quick) return passed;
  return name === "wasm-cnn" ? ["10"] : ["--quick", ...passed];
}

function runOne(name: string): Promise<{ code: number; ms: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", `${dir}${name}.ts`, ...argsFor(name)], {
    stdio: "inherit",
  });
  return new Promise((resolve) => {
    child.once("error", () => resolve({ code: 1, ms: performance.now() - started }));
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), ms: performance.now() - started }));
  });
}

let backend = "";
await selectBackend({ log: (line) => (backend = line.replace(/^tfjs backend: /, "")) });
console.log(machineLine(`${backend} (default choice; each benchmark names the backend it uses)`));
console.log(`benchmarks: ${names.join(", ")}${quick ? " (--quick: smaller sizes)" : ""}`);

const results: { name: string; code: number; ms: number }[] = [];
for (const name of names) {
  console.log(`\n=== ${name} (bench/${name}.ts ${argsFor(name).join(" ")}) ===`.replace(" )", ")"));
  results.push({ name, ...(await runOne(name)) });
}
console.log("\n=== summary ===");
for (const r of results)
  console.log(
    `${r.name.padEnd(14)}${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`} in ${(r.ms / 1000).toFixed(1)} s`,
  );
if (results.some((r) => r.code !== 0)) process.exitCode = 1;
