import type { CliIo } from "../../src/common/cli.js";
import { runNodeCli } from "../../src/node/cli/cli.js";
import { runResearcherCli } from "../../src/researcher/cli/program.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a CLI in this process, collecting what it writes: `fbm-node` or `fbm-researcher` without exiting. */
async function capture(run: (argv: string[], io: CliIo) => Promise<number>, argv: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

export const nodeCli = (...argv: string[]) => capture(runNodeCli, argv);
export const researcherCli = (...argv: string[]) => capture(runResearcherCli, argv);
