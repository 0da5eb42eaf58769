// Fixes what allure-cucumberjs writes before Allure reads it. The stock adapter reports an undefined
// step as passed, a pending one as skipped, ignores hook failures, knows nothing of retries being flaky,
// and turns tags into bare `tag` labels. Each raw result is matched to its attempt in the message stream
// (same scenario name, same start millisecond) and rewritten from it:
//   status and message from classify() (so categories can tell product, harness and definition errors apart),
//   `statusDetails.flaky` on the passing attempt of a scenario that failed before (earlier attempts stay as retries),
//   labels from tags (scenario id, severity, suite, topic) and the id as a name prefix,
//   the diagnostics bundle and pictures moved from the After-hook fixture to the test body, where readers look.

import { classify, MESSAGE_PREFIX, type Classified } from './classify.ts';
import { replayOf } from './replay-of.ts';
import { attemptsByPickle, scenarioId, verdict, type Attempt, type RunModel } from './run-model.ts';

export interface AllureLabel {
  name: string;
  value: string;
}
export interface AllureAttachment {
  name: string;
  source: string;
  type?: string;
}
export interface AllureStep {
  name?: string;
  status?: string;
  statusDetails?: { message?: string; trace?: string };
  steps?: AllureStep[];
  attachments?: AllureAttachment[];
  [k: string]: unknown;
}
export interface AllureResult extends AllureStep {
  uuid: string;
  name: string;
  start?: number;
  stop?: number;
  description?: string;
  labels: AllureLabel[];
  statusDetails?: { message?: string; trace?: string; flaky?: boolean };
}
export interface AllureContainer {
  uuid: string;
  children: string[];
  befores?: AllureStep[];
  afters?: AllureStep[];
}

export const SEVERITY: Record<string, string> = { '@p0': 'blocker', '@p1': 'critical', '@p2': 'normal' };
export const SUITES: Record<string, string> = {
  '@full-stack': 'full-stack',
  '@integration': 'integration',
  '@fault-selftest': 'fault-selftest',
};
/** Tags that say how a scenario runs, not what it is about; everything else is a topic. */
const NOT_TOPICS = new Set([
  '@chaos',
  '@requires-docker',
  '@nightly',
  '@smoke',
  ...Object.keys(SEVERITY),
  ...Object.keys(SUITES),
]);

/** Attachments a reader should find in the test body, not buried in the After hook's teardown. */
const MOVE_TO_BODY = (a: AllureAttachment) =>
  a.name === 'diagnostics.txt' || a.name === 'measurements.json' || a.type === 'image/svg+xml';

/** Allure categories, in Allure 2's categories.json form (Allure 3 accepts the same rules): first match wins. */
export const CATEGORIES = [
  { name: 'Flaky: passed on retry', matchedStatuses: ['passed'], flaky: true },
  {
    name: 'Faults that did not apply (skipped)',
    matchedStatuses: ['skipped'],
    messageRegex: `^${MESSAGE_PREFIX.notApplied}[\\s\\S]*`,
  },
  { name: 'Product failures', matchedStatuses: ['failed'] },
  {
    name: 'Harness errors (setup, hooks, harness timeouts)',
    matchedStatuses: ['broken'],
    messageRegex: `^${MESSAGE_PREFIX.harness}[\\s\\S]*`,
  },
  {
    name: 'Undefined, ambiguous or pending steps',
    matchedStatuses: ['broken'],
    messageRegex: '^(Undefined|Ambiguous|Pending) step[\\s\\S]*',
  },
  { name: 'Other errors', matchedStatuses: ['broken'] },
];

export function tagLabels(tags: string[], featureName: string): AllureLabel[] {
  const labels: AllureLabel[] = [];
  const id = scenarioId(tags);
  // Not ALLURE_ID: Allure makes that the test-case identity, and several scenarios may share one ID tag.
  if (id) labels.push({ name: 'scenario_id', value: id });
  const sev = tags.map((t) => SEVERITY[t]).find(Boolean);
  if (sev) labels.push({ name: 'severity', value: sev });
  const suite = tags.map((t) => SUITES[t]).find(Boolean);
  labels.push({ name: 'parentSuite', value: suite ?? 'other' }, { name: 'suite', value: featureName });
  for (const t of tags) {
    if (NOT_TOPICS.has(t) || /^@[A-Z]+-\d+$/.test(t)) continue;
    labels.push({ name: 'epic', value: t.slice(1) });
  }
  return labels;
}

const CONTROLLED = new Set(['scenario_id', 'severity', 'parentSuite', 'suite', 'subSuite', 'epic']);

export interface FixReport {
  matched: number;
  /** Raw results with no attempt in the message stream (left as they were, but never passed). */
  unmatched: string[];
}

export function fixAllure(run: RunModel, results: AllureResult[], containers: AllureContainer[]): FixReport {
  const byPickle = attemptsByPickle(run);
  const taken = new Set<string>();
  const report: FixReport = { matched: 0, unmatched: [] };
  for (const r of results) {
    const a = findAttempt(run, r, taken);
    if (!a) {
      report.unmatched.push(r.uuid);
      // Without the stream we still refuse to call a result with an unimplemented step passed.
      if (r.status === 'passed' && (r.steps ?? []).some((s) => s.status === undefined)) r.status = 'broken';
      continue;
    }
    taken.add(a.id);
    report.matched++;
    const p = run.pickles.get(a.pickleId)!;
    const tries = byPickle.get(a.pickleId)!;
    const c = classify(a);
    r.status = c.status;
    const flaky = a === tries.at(-1) && verdict(tries) === 'flaky';
    r.statusDetails = {
      ...(c.message ? { message: c.message } : {}),
      ...((c.trace ?? r.statusDetails?.trace) ? { trace: c.trace ?? r.statusDetails?.trace } : {}),
      ...(flaky ? { flaky: true } : {}),
    };
    fixSteps(r, a, c);
    const id = scenarioId(p.tags);
    if (id && !r.name.startsWith(`[${id}]`)) r.name = `[${id}] ${r.name}`;
    r.labels = [...r.labels.filter((l) => !CONTROLLED.has(l.name)), ...tagLabels(p.tags, p.featureName)];
    const replay = c.status === 'passed' ? undefined : replayOf(a, p);
    const notes = [
      tries.length > 1
        ? `Attempt ${a.attempt + 1} of ${tries.length}${flaky ? ': passed only on retry (flaky)' : ''}.`
        : '',
      replay ? `Replay: \`${replay}\`` : '',
    ].filter(Boolean);
    const fresh = notes.filter((n) => !r.description?.includes(n));
    if (fresh.length) r.description = [r.description, ...fresh].filter(Boolean).join('\n\n');
    moveAttachments(r, containers);
    nameFixtures(r, containers);
  }
  return report;
}

function findAttempt(run: RunModel, r: AllureResult, taken: Set<string>): Attempt | undefined {
  const candidates = run.attempts.filter(
    (a) => !taken.has(a.id) && run.pickles.get(a.pickleId)?.name === r.name.replace(/^\[[A-Z]+-\d+\] /, ''),
  );
  return (
    candidates.find((a) => r.start !== undefined && Math.abs(a.startedAt - r.start) <= 1) ??
    (candidates.length === 1 ? candidates[0] : undefined)
  );
}

// Top-level Allure steps are the pickle steps in order; the adapter leaves undefined/ambiguous without a
// status and turns pending into skipped. The step that decided the outcome gets the result's message, so
// the report shows the error once, inside that step, instead of again at the end of the body.
function fixSteps(r: AllureResult, a: Attempt, c: Classified): void {
  const cucumberSteps = a.steps.filter((s) => s.kind === 'step');
  (r.steps ?? []).forEach((s, i) => {
    const cs = cucumberSteps[i];
    if (!cs) return;
    if (cs.status === 'UNDEFINED' || cs.status === 'AMBIGUOUS' || cs.status === 'PENDING') s.status = 'broken';
    else if (s.status === undefined)
      s.status = cs.status === 'PASSED' ? 'passed' : cs.status === 'SKIPPED' ? 'skipped' : 'broken';
    if (c.step === cs.text && c.message && (s.status === 'broken' || s.status === 'failed')) {
      s.status = c.status;
      s.statusDetails = { message: c.message, ...(c.trace ? { trace: c.trace } : {}) };
    }
  });
}

/** The adapter names a fixture after the hook's name, and ours have none: say which hook it is. */
function nameFixtures(r: AllureResult, containers: AllureContainer[]): void {
  for (const c of containers) {
    if (!c.children.includes(r.uuid)) continue;
    for (const f of c.befores ?? []) f.name ??= 'Before hook';
    for (const f of c.afters ?? []) f.name ??= 'After hook';
  }
}

function moveAttachments(r: AllureResult, containers: AllureContainer[]): void {
  for (const c of containers) {
    if (!c.children.includes(r.uuid)) continue;
    for (const f of c.afters ?? []) {
      const keep: AllureStep[] = [];
      for (const s of f.steps ?? []) {
        const moved = (s.attachments ?? []).filter(MOVE_TO_BODY);
        if (moved.length && moved.length === (s.attachments ?? []).length && !(s.steps ?? []).length) {
          r.attachments = [...(r.attachments ?? []), ...moved];
        } else keep.push(s);
      }
      f.steps = keep;
    }
  }
}
