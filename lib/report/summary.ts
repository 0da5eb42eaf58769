// The run's verdict, computed from cucumber's message stream (the source of truth): one result per
// scenario (its last attempt), with undefined, ambiguous and pending steps counted as failures and a
// scenario that failed and then passed on retry counted as flaky.

export type Verdict = 'passed' | 'failed' | 'skipped' | 'flaky';

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

const FAILING = new Set(['FAILED', 'UNDEFINED', 'AMBIGUOUS', 'PENDING', 'UNKNOWN']);
const RANK = ['PASSED', 'SKIPPED', 'PENDING', 'UNDEFINED', 'AMBIGUOUS', 'FAILED', 'UNKNOWN'];

export function summarize(ndjson: string): RunSummary {
  const pickles = new Map<string, { name: string; uri: string; tags: string[] }>();
  const testCases = new Map<string, string>(); // testCase id → pickle id
  const attempts = new Map<string, { pickleId: string; worst: string; message?: string }>();
  const byPickle = new Map<string, Array<{ worst: string; message?: string }>>();
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.pickle) pickles.set(m.pickle.id, { name: m.pickle.name, uri: m.pickle.uri, tags: m.pickle.tags.map((t: any) => t.name) });
    else if (m.testCase) testCases.set(m.testCase.id, m.testCase.pickleId);
    else if (m.testCaseStarted) attempts.set(m.testCaseStarted.id, { pickleId: testCases.get(m.testCaseStarted.testCaseId)!, worst: 'PASSED' });
    else if (m.testStepFinished) {
      const a = attempts.get(m.testStepFinished.testCaseStartedId);
      const st = m.testStepFinished.testStepResult.status as string;
      if (a && RANK.indexOf(st) > RANK.indexOf(a.worst)) {
        a.worst = st;
        a.message = m.testStepFinished.testStepResult.message;
      }
    } else if (m.testCaseFinished) {
      const a = attempts.get(m.testCaseFinished.testCaseStartedId);
      if (!a) continue;
      const list = byPickle.get(a.pickleId) ?? [];
      list.push({ worst: a.worst, ...(a.message ? { message: a.message } : {}) });
      byPickle.set(a.pickleId, list);
    }
  }
  const scenarios: ScenarioResult[] = [];
  for (const [pickleId, tries] of byPickle) {
    const p = pickles.get(pickleId)!;
    const last = tries.at(-1)!;
    const failedBefore = tries.slice(0, -1).some((t) => FAILING.has(t.worst));
    let verdict: Verdict = FAILING.has(last.worst) ? 'failed' : last.worst === 'SKIPPED' ? 'skipped' : 'passed';
    if (verdict === 'passed' && failedBefore) verdict = 'flaky';
    scenarios.push({ ...p, verdict, status: last.worst, attempts: tries.length, ...(last.message ? { message: last.message } : {}) });
  }
  const count = (v: Verdict) => scenarios.filter((s) => s.verdict === v).length;
  return { scenarios, passed: count('passed') + count('flaky'), failed: count('failed'), skipped: count('skipped'), flaky: count('flaky') };
}

/** The closing line CI reads. Flaky scenarios passed (on retry) and are also named separately. */
export function summaryLine(s: Pick<RunSummary, 'passed' | 'failed' | 'skipped'>): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}
