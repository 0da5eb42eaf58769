// The run's verdict, computed from cucumber's message stream (the source of truth): one result per
// scenario (its last attempt), with undefined, ambiguous and pending steps counted as failures and a
// scenario that failed and then passed on retry counted as flaky (and as passed in the closing line).

import { attemptsByPickle, outcome, parseRun, verdict, type RunModel, type Verdict } from './run-model.ts';

export type { Verdict } from './run-model.ts';

export interface ScenarioResult {
  name: string;
  uri: string;
  /** The scenario's line in its feature file (the example row's, for an outline). */
  line?: number;
  tags: string[];
  verdict: Verdict;
  /** The worst step status of the last attempt (UNDEFINED, AMBIGUOUS, FAILED, …). */
  status: string;
  attempts: number;
  message?: string;
}

export interface RunSummary {
  scenarios: ScenarioResult[];
  passed: number;
  failed: number;
  skipped: number;
  flaky: number;
}

export function summarize(ndjsonOrRun: string | RunModel): RunSummary {
  const run = typeof ndjsonOrRun === 'string' ? parseRun(ndjsonOrRun) : ndjsonOrRun;
  const scenarios: ScenarioResult[] = [];
  for (const [pickleId, tries] of attemptsByPickle(run)) {
    const p = run.pickles.get(pickleId);
    const last = outcome(tries.at(-1)!);
    scenarios.push({
      name: p?.name ?? pickleId,
      uri: p?.uri ?? '',
      ...(p?.line ? { line: p.line } : {}),
      tags: p?.tags ?? [],
      verdict: verdict(tries),
      status: last.status,
      attempts: tries.length,
      ...(last.step?.message ? { message: last.step.message } : {}),
    });
  }
  const count = (v: Verdict) => scenarios.filter((s) => s.verdict === v).length;
  return {
    scenarios,
    passed: count('passed') + count('flaky'),
    failed: count('failed'),
    skipped: count('skipped'),
    flaky: count('flaky'),
  };
}

/**
 * GitHub Actions workflow commands: one `::error file=…,line=…,title=…::message` per failed scenario, so a
 * pull request shows each failure on the feature file's line. The message's newlines are escaped as the
 * runner wants (%0A), and % itself (%25).
 */
export function githubAnnotations(s: RunSummary): string[] {
  const esc = (t: string) => t.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (t: string) => esc(t).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return s.scenarios
    .filter((sc) => sc.verdict === 'failed')
    .map((sc) => {
      const id = sc.tags.find((t) => /^@[A-Z]+-\d+$/.test(t));
      const where = [`file=${prop(sc.uri)}`, ...(sc.line ? [`line=${sc.line}`] : [])];
      const title = prop(`${id ? `${id} ` : ''}${sc.name} [${sc.status}]`);
      return `::error ${where.join(',')},title=${title}::${esc((sc.message ?? sc.status).split('\n').slice(0, 5).join('\n'))}`;
    });
}

/** The closing line CI reads. Flaky scenarios passed (on retry) and are also named separately. */
export function summaryLine(s: Pick<RunSummary, 'passed' | 'failed' | 'skipped'>): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}
