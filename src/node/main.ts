import { endOnClosedStdout } from "../common/cli.js";
import { runNodeCli } from "./cli/cli.js";

endOnClosedStdout(); // `… | head`: a closed stdout is a normal end

/** Entry point of `fbm-node`: the only place that exits the process (after stdout/stderr are flushed). */
const code = await runNodeCli(process.argv.slice(2));
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))));
process.exit(code);
