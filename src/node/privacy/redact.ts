import { basename, sep } from "node:path";
import { CELL_VALUE } from "../../ml/data/reader-errors.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";

/**
 * Takes out of a message bound for the researcher what must not leave the hospital: the node home,
 * each catalogued dataset's files (replaced by `<id> "<name>"`, what researchers see of a dataset
 * anyway), then any other absolute path (`<local path>`) and any quoted cell (`value <withheld>`). The
 * node's own log keeps the full text.
 */
export function createRedactor(homeDir: string, datasets: () => DatasetEntry[]): (message: string) => string {
  return (message) => {
    let text = message;
    const swaps: [string, string][] = [];
    for (const entry of datasets()) {
      const label = `${entry.id} "${entry.name}"`;
      const files: [string, string][] = [[entry.path, label]];
      if (entry.labelsPath) files.push([entry.labelsPath, `${label} (labels)`]);
      for (const [file, as] of files) {
        swaps.push([`"${file}"`, as], [file, as]);
        const name = basename(file);
        // A file name with an extension is specific enough to replace wherever it appears.
        if (/\.[A-Za-z0-9]+$/.test(name) && name.length >= 5) swaps.push([`"${name}"`, as], [name, as]);
      }
    }
    swaps.push([homeDir, "<node home>"]);
    // Longest first, so a folder does not cut a file path inside it in two.
    for (const [from, to] of swaps.sort((a, b) => b[0].length - a[0].length)) text = text.split(from).join(to);
    // A cell quoted by a reader message (a non-numeric value, a text target) is patient data.
    return text
      .replace(CELL_VALUE, "value <withheld>")
      .replace(ABSOLUTE_PATH, (_match, before: string) => `${before}<local path>`);
  };
}

/** An absolute POSIX or Windows path not part of a URL (`http://host/x` keeps its path). */
const ABSOLUTE_PATH =
  sep === "\\" ? /(^|[\s"'`(=])(?:[A-Za-z]:\\|\\\\)[^\s"'`)]*/g : /(^|[\s"'`(=])\/[^\s"'`)]*[^\s"'`).,;:]/g;
