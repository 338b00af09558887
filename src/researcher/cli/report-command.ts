import { resolve } from "node:path";
import { Command } from "@commander-js/extra-typings";
import { writeFileAtomic } from "../../common/atomic-write.js";
import type { CliIo } from "../../common/cli.js";
import { errorMessage, InputError } from "../../common/errors.js";

/** `fbm-researcher report RUN_DIR [--out FILE.html]`: one self-contained HTML page of a run. */
export function reportCommand(io: CliIo, globals: () => { json?: true }): Command<any, any, any> {
  return new Command("report")
    .description("write a self-contained HTML report of a run folder: curves, nodes, privacy, the experiment")
    .argument("<run-dir>", "the run folder (<out>/<name>/)")
    .option("--out <file>", "HTML file to write (default: RUN_DIR/report.html)")
    .option("--json", 'print {"report": FILE, "rounds": N} on stdout')
    .action(async (dir, options) => {
      const { readRunFolder } = await import("../report/report-data.js");
      const { reportHtml } = await import("../report/report-html.js");
      const data = await readRunFolder(dir);
      const out = resolve(options.out ?? resolve(dir, "report.html"));
      await writeFileAtomic(out, reportHtml(data)).catch((error) => {
        throw new InputError(`Cannot write the report ${out}: ${errorMessage(error)}; fix: choose another --out`);
      });
      if (options.json || globals().json) io.stdout(`${JSON.stringify({ report: out, rounds: data.rounds })}\n`);
      else io.stderr(`Report of ${data.rounds} round(s) written to ${out}\n`);
    });
}
