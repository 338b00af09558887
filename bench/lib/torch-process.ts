/**
 * The PyTorch side of the training benchmarks (bench/torch/train_bench.py): one persistent process on one
 * CPU thread, or a sentence saying why there is none (torch missing, or `--no-torch`).
 */
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { hasFlag } from "./flags.js";
import { type BenchModel, benchRows, benchSeed } from "./train-models.js";

export const python = process.env.FBM_BENCH_PYTHON || "/usr/bin/python3";
const script = fileURLToPath(new URL("../torch/train_bench.py", import.meta.url));

/** One timed run: its seconds and mean loss. */
export interface Timed {
  seconds: number;
  loss: number;
  /** What trainLocal ran the steps on, e.g. "kernels, 2 threads" (threads is a cap, not a demand). */
  engine?: string;
  /** fbm runs: CPU seconds of this process (every thread) during the run, steadier than wall time under load. */
  cpuSeconds?: number;
}

export interface TorchInfo {
  torch: string;
  threads: number;
  blas: string;
}
interface TorchReply {
  samples_per_s?: number;
  seconds?: number;
  loss?: number;
  error?: string;
}
export interface Torch {
  info: TorchInfo;
  /** Builds the model and optimizer (seeded), then `steps` mini-batch steps over `rows` rows. */
  run(model: BenchModel, steps: number, rows?: number): Promise<Timed>;
  stop(): Promise<void>;
}

/** The persistent PyTorch process, or why there is none. */
export async function startTorch(): Promise<Torch | string> {
  if (hasFlag("no-torch")) return "not run (--no-torch)";
  const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8", timeout: 120_000 });
  if (probe.error || probe.status !== 0) {
    const why = probe.error?.message ?? (probe.stderr.trim().split("\n").pop() || `exit code ${probe.status}`);
    return (
      `not available (${python} -c "import torch": ${why});\n` +
      "  install it with `apt-get install python3-torch` for the comparison; fbm figures only"
    );
  }
  const child = spawn(python, [script], {
    env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.on("error", () => {}); // a dead process shows as the end of its output instead
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async <T>(): Promise<T> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the torch process (${script}) exited`);
    return JSON.parse(line.value) as T;
  };
  try {
    const info = await next<TorchInfo>();
    return {
      info,
      async run(model, steps, rows = benchRows) {
        const command = { model: model.name, steps, batch: model.batchSize, rows, seed: benchSeed };
        child.stdin.write(`${JSON.stringify(command)}\n`);
        const reply = await next<TorchReply>();
        if (reply.error || reply.seconds === undefined) throw new Error(reply.error ?? "no time in the reply");
        return { seconds: reply.seconds, loss: reply.loss ?? Number.NaN };
      },
      async stop() {
        child.stdin.end(`${JSON.stringify({ quit: true })}\n`);
        await exited;
      },
    };
  } catch (error) {
    child.kill();
    return `failed to start (${error instanceof Error ? error.message : String(error)}); fbm figures only`;
  }
}
