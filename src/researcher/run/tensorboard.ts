import { type ScalarStep, toEventFile, toEventRecords } from "../../wire/tensorboard-file.js";
import type { RoundEvent } from "./events.js";

/**
 * The run's TensorBoard logs, from the round events so far: `tensorboard/pooled/` holds the federated
 * figures, `tensorboard/<node name>/` each node's, under the same tags (`loss`, `global/<metric>`,
 * `local/<metric>`), so TensorBoard draws the pooled curve and every node's on one chart.
 * Returns file paths relative to the run folder and their whole bytes (a resumed run rebuilds them).
 */
export function tensorboardFiles(history: unknown[]): Map<string, Uint8Array> {
  const start = startTime(history);
  const files = new Map<string, Uint8Array>();
  for (const [run, steps] of runSteps(roundEvents(history))) {
    files.set(fileName(run, start), toEventFile(steps, start));
  }
  return files;
}

/**
 * What the last `added` events of `history` add to the logs: per file, the records to append and the
 * header a file still empty starts with. A round costs its own records, not the whole history again.
 */
export function tensorboardAppends(
  history: unknown[],
  added: number,
): Map<string, { header: Uint8Array; bytes: Uint8Array }> {
  const start = startTime(history);
  const header = toEventFile([], start);
  const files = new Map<string, { header: Uint8Array; bytes: Uint8Array }>();
  for (const [run, steps] of runSteps(roundEvents(history.slice(history.length - added)))) {
    files.set(fileName(run, start), { header, bytes: toEventRecords(steps) });
  }
  return files;
}

function roundEvents(history: unknown[]): RoundEvent[] {
  return history.filter((e): e is RoundEvent => (e as { event?: string })?.event === "round");
}

/** The first round's time names the event files (TensorBoard's `events.out.tfevents.<time>.<host>`). */
function startTime(history: unknown[]): number {
  return Math.floor(roundEvents(history)[0]?.time ?? 0);
}

function fileName(run: string, start: number): string {
  return `tensorboard/${run}/events.out.tfevents.${start}.fbm`;
}

/** Each TensorBoard run (pooled, then one per node) and its steps, in round order. */
function runSteps(rounds: RoundEvent[]): Map<string, ScalarStep[]> {
  const runs = new Map<string, ScalarStep[]>();
  const add = (run: string, step: ScalarStep) => {
    const steps = runs.get(run);
    if (steps) steps.push(step);
    else runs.set(run, [step]);
  };
  for (const e of rounds) {
    const wallTime = e.time ?? 0;
    add("pooled", {
      step: e.round,
      wallTime,
      scalars: {
        ...(e.loss === undefined ? {} : { loss: e.loss }),
        ...prefixed("global", e.metrics.global),
        ...prefixed("local", e.metrics.local),
        ...prefixed("auc_error", e.auc_error),
        ...prefixed("privacy", numbers((e as { privacy?: unknown }).privacy)),
        nodes: e.nodes.length,
        failed: e.failed.length,
        seconds: e.seconds,
      },
    });
    for (const n of e.nodes) {
      add(folderName(n.name, n.node), {
        step: e.round,
        wallTime,
        scalars: {
          ...(n.loss === undefined ? {} : { loss: n.loss }),
          ...prefixed("global", n.global),
          ...prefixed("local", n.local),
          samples: n.samples,
        },
      });
    }
  }
  return runs;
}

function prefixed(prefix: string, values: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [`${prefix}/${k}`, v]));
}

/** The numeric fields of an object (e.g. `privacy: {epsilon, delta}`). */
function numbers(value: unknown): Record<string, number> {
  if (typeof value !== "object" || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === "number"),
  );
}

/** A node's folder: its name in safe characters, with its id when the name had to change or says nothing. */
function folderName(name: string, node: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return safe === name && safe !== "" && safe !== "pooled" ? safe : `${safe}-${node}`;
}
