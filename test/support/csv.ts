/** A reference CSV reader for tests, written for clarity rather than speed. */

/** The records of a CSV text as RFC 4180 reads them: [raw text including its line end, fields]. */
export function csvRecords(text: string): [string, string[]][] {
  const records: [string, string[]][] = [];
  let start = 0;
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      records.push([text.slice(start, i + 1), fields]);
      fields = [];
      field = '';
      start = i + 1;
    } else field += c;
  }
  if (start < text.length) records.push([text.slice(start) + '\n', [...fields, field]]);
  return records;
}
