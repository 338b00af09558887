import { errorMessage } from "../../src/common/errors.js";

/** Exits with `code` once stdout and stderr have drained (what src/node/main.ts and src/researcher/cli/main.ts do). */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))));
  process.exit(code);
}

/** Last resort for a CLI promise that rejects (the CLIs map errors themselves): one line, exit 1. */
export function exitOnCrash(error: unknown): void {
  process.stderr.write(`Error: ${errorMessage(error)}\n`);
  process.exit(1);
}
