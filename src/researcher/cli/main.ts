import { endOnClosedStdout } from "../../common/cli.js";
import { capYoungGeneration } from "../../common/young-generation.js";
import { runResearcherCli } from "./program.js";

endOnClosedStdout(); // `… | head`: a closed stdout is a normal end
capYoungGeneration(); // a smaller young generation: its rss at scale (README "Scale", Memory)

/** Entry point of `fbm-researcher`: the only place that exits the process (after output is flushed). */
const code = await runResearcherCli(process.argv.slice(2));
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))));
process.exit(code);
