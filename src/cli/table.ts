/** Plain-text renderings of query results. */

const cell = (v: unknown): string => (v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function formatTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const texts = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) => Math.max(c.length, ...texts.map((r) => r[i].length)));
  const line = (values: readonly string[]): string => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...texts.map(line), `(${rows.length} row${rows.length === 1 ? '' : 's'})`].join('\n');
}

export function formatCsv(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const quote = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [columns.map(quote).join(','), ...rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : quote(cell(v)))).join(','))].join('\n');
}
