// The metric vocabulary of the contract (§0 "Metrics"): every metric a service serves at /metrics, with
// its type and labels. Names start with rbee_queen_, rbee_hive_, rbee_worker_ (rbee_hub_ for the stand-in
// registry); the Node runtime's standard process_* and nodejs_* metrics are declared as a family. The
// harness reads only declared metrics, and the reference stack serves only declared ones
// (test/lib/contract-names.test.ts, test/stack/conformance.test.ts).

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  type: MetricType;
  labels: readonly string[];
}

/** Every service's HTTP metrics (stack/shared/http.ts), under its prefix. */
const http = (prefix: string): Record<string, MetricSpec> => ({
  [`${prefix}requests_total`]: { type: 'counter', labels: ['route', 'code'] },
  [`${prefix}request_duration_seconds`]: { type: 'histogram', labels: ['route'] },
});

export const METRICS: Readonly<Record<string, MetricSpec>> = {
  ...http('rbee_queen_'),
  rbee_queen_jobs_total: { type: 'counter', labels: ['outcome'] },
  rbee_queen_hives: { type: 'gauge', labels: ['status'] },
  rbee_queen_circuit_open: { type: 'gauge', labels: ['node_name'] },
  ...http('rbee_hive_'),
  rbee_hive_worker_crashes_total: { type: 'counter', labels: [] },
  rbee_hive_worker_restarts_total: { type: 'counter', labels: [] },
  rbee_hive_models_downloaded_total: { type: 'counter', labels: [] },
  rbee_hive_download_bytes_total: { type: 'counter', labels: [] },
  rbee_hive_workers: { type: 'gauge', labels: ['state'] },
  rbee_hive_downloads_active: { type: 'gauge', labels: [] },
  ...http('rbee_worker_'),
  rbee_worker_jobs_total: { type: 'counter', labels: ['outcome'] },
  rbee_worker_slots_total: { type: 'gauge', labels: [] },
  rbee_worker_slots_busy: { type: 'gauge', labels: [] },
  rbee_worker_slots_busy_max: { type: 'gauge', labels: [] },
  rbee_worker_tokens_generated_total: { type: 'counter', labels: [] },
  rbee_worker_inference_duration_seconds: { type: 'histogram', labels: [] },
  ...http('rbee_hub_'),
};

/** The Node runtime's standard metrics (prom-client's defaults), declared as families. */
export const RUNTIME_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;

export function isDeclaredMetric(name: string): boolean {
  return name in METRICS || RUNTIME_METRIC_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * What is wrong with a /metrics exposition against the contract: undeclared names, a type other than the
 * declared one, labels other than the declared ones (histogram series carry `le` besides).
 */
export function expositionProblems(text: string): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    if (!isDeclaredMetric(name!)) problems.push(`metric ${name} is not declared in lib/contract/metrics.ts`);
    else if (METRICS[name!] && METRICS[name!]!.type !== type)
      problems.push(`metric ${name} is a ${type}, declared a ${METRICS[name!]!.type}`);
  }
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)\{([^}]*)\}/gm)) {
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    const spec = METRICS[m[1]!] ?? METRICS[base];
    if (!spec) continue;
    const labels = [...m[2]!.matchAll(/(\w+)="/g)].map((x) => x[1]!).filter((l) => l !== 'le');
    const extra = labels.filter((l) => !spec.labels.includes(l));
    if (extra.length) problems.push(`metric ${m[1]} has undeclared labels ${extra.join(', ')}`);
  }
  return [...new Set(problems)];
}
