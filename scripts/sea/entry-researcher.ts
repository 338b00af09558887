// Entry of the `fbm-researcher` single executable: src/researcher/cli/main.ts without top-level await
// (a SEA's main script is CommonJS in Node 20); bundled by scripts/build.ts.

import { endOnClosedStdout } from "../../src/common/cli.js";
import { capYoungGeneration } from "../../src/common/young-generation.js";
import { runResearcherCli } from "../../src/researcher/cli/program.js";
import { exitOnCrash, exitWhenFlushed } from "./exit.js";

endOnClosedStdout();
capYoungGeneration();
runResearcherCli(process.argv.slice(2)).then(exitWhenFlushed, exitOnCrash);
