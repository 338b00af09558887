// npm run build: the two single executables dist/fbm-node and dist/fbm-researcher (see scripts/lib/sea-build.ts).

import { errorMessage } from "../src/common/errors.js";
import { buildExecutables } from "./lib/sea-build.js";

const started = Date.now();
try {
  await buildExecutables({
    strip: !process.argv.includes("--no-strip"),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} catch (error) {
  process.stderr.write(`Error: Cannot build the executables: ${errorMessage(error)}\n`);
  process.exit(1);
}
