// The run's verdict, computed from cucumber's message stream (the source of truth): one result per
// scenario (its last attempt), with undefined, ambiguous and pending steps counted as failures and a
// scenario that failed and then passed on retry counted as flaky (and as passed in the closing line).

import { attemptsByPickle, outcome, parseRun, verdict, type RunModel, type Verdict } from './run-model.ts';

export type { Verdict } from './run-model.ts';

export interface ScenarioResult {
  name: string;
  uri: string;
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

/** The closing line CI reads. Flaky scenarios passed (on retry) and are also named separately. */
export function summaryLine(s: Pick<RunSummary, 'passed' | 'failed' | 'skipped'>): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}
