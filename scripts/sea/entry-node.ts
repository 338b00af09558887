// Entry of the `fbm-node` single executable. Node 20 runs a SEA's main script as CommonJS, which has no
// top-level await, so this replaces src/node/main.ts in the bundle (scripts/build.ts).

import { endOnClosedStdout } from "../../src/common/cli.js";
import { runNodeCli } from "../../src/node/cli/cli.js";
import { exitOnCrash, exitWhenFlushed } from "./exit.js";

endOnClosedStdout();
runNodeCli(process.argv.slice(2)).then(exitWhenFlushed, exitOnCrash);
