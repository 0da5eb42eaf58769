// `Range: bytes=…` parsing for the hub's downloads (the hive resumes or probes with it).
// One range only: `a-b`, `a-` and `-n` (suffix). Anything else, or a range outside the file, is answered
// with 416 so a client bug shows up instead of silently receiving the whole file.

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // inclusive end, as in Content-Range
  | { kind: 'unsatisfiable'; reason: string };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header.trim() === '') return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m)
    return {
      kind: 'unsatisfiable',
      reason: `unsupported Range header ${JSON.stringify(header)} (one bytes=a-b range only)`,
    };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'unsatisfiable', reason: 'empty range' };
  if (a === '') {
    // Suffix range: the last n bytes.
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable', reason: 'zero-length suffix range' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size) return { kind: 'unsatisfiable', reason: `range starts at ${start}, file has ${size} bytes` };
  if (b !== '' && Number(b) < start)
    return { kind: 'unsatisfiable', reason: `range end ${b} is before its start ${start}` };
  return { kind: 'partial', start, end };
}
