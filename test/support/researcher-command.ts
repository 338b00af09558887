import { spawn } from "node:child_process";
import { DEADLINE_MS, type NodeProcesses, researcherBin } from "../../scripts/lib/federation.js";

/** What a researcher command printed, and its exit code (null: killed). */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `fbm-researcher COMMAND… --listen 127.0.0.1:0 --wait DEADLINE ARGS…` (e.g. `stats`, or `analyze FILE`) as
 * a child process: the nodes' gate (startNodes) opens to it once it says where it listens and shuts when it
 * exits; killed a minute after the deadline if it has not exited by then.
 */
export async function runResearcherCommand(
  nodes: NodeProcesses,
  command: string[],
  args: string[],
): Promise<CommandResult> {
  const researcher = spawn(
    process.execPath,
    [researcherBin, ...command, "--listen", "127.0.0.1:0", "--wait", String(DEADLINE_MS / 1000), ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const deadline = setTimeout(() => researcher.kill("SIGKILL"), DEADLINE_MS + 60_000);
  let stdout = "";
  let stderr = "";
  researcher.stdout!.on("data", (d) => (stdout += d));
  researcher.stderr!.on("data", (d) => {
    stderr += d;
    const url = /Listening on (\S+);/.exec(stderr)?.[1];
    if (url) nodes.gate.open(url);
  });
  const code = await new Promise<number | null>((done) => researcher.on("exit", done));
  clearTimeout(deadline);
  nodes.gate.shut();
  return { code, stdout, stderr };
}
