import type { TableRows } from "../../src/node/clinical/table-rows.js";
import { CLINICAL_COLUMNS, clinicalRows } from "./clinical-rows.js";

/**
 * The three sites of the clinical reference tests (120, 90 and 150 rows, seeds 11–13), as the node
 * reads them (cells as text). R's references were computed on these rows written as csv by
 * clinicalCsv and stacked: `d <- rbind(site0, site1, site2)` with a `site` column 0–2.
 */
export function clinicalSites(): TableRows[] {
  return [clinicalRows(120, 11), clinicalRows(90, 12), clinicalRows(150, 13)].map((rows) => ({
    columns: [...CLINICAL_COLUMNS],
    cells: rows.map((r) => r.map(String)),
  }));
}
