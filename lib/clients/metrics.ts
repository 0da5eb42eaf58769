// Reading Prometheus / OpenMetrics text: samples with labels, and exemplars where present.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: { labels: Record<string, string>; value: number };
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(?:\s+\S+)?(?:\s+#\s+(\{[^}]*\})\s+(\S+).*)?$/;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE_RE.exec(line.trim());
    if (!m) continue;
    const s: Sample = { name: m[1]!, labels: parseLabels(m[2]), value: Number(m[3]) };
    if (m[4]) s.exemplar = { labels: parseLabels(m[4]), value: Number(m[5]) };
    out.push(s);
  }
  return out;
}

function parseLabels(block: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!block) return labels;
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(block); m; m = re.exec(block)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return labels;
}

/** Sum of every sample of `name` whose labels include `match`. */
export function metricValue(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
