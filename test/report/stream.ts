// Builds cucumber message streams (NDJSON) shaped like cucumber-js 12 writes them, for the report tests:
// scenarios with Before/After hooks, steps, retries and attachments; and the raw Allure results
// allure-cucumberjs would write for them.

import type { AllureContainer, AllureResult } from '../../lib/report/allure-fix.ts';
import { parseRun } from '../../lib/report/run-model.ts';

export interface StepSpec {
  status: 'PASSED' | 'SKIPPED' | 'PENDING' | 'UNDEFINED' | 'AMBIGUOUS' | 'FAILED' | 'UNKNOWN';
  message?: string;
  exceptionType?: string;
}

export interface AttemptSpec {
  /** Statuses of the pickle steps, in order. */
  steps: Array<StepSpec['status'] | StepSpec>;
  before?: StepSpec['status'] | StepSpec;
  after?: StepSpec['status'] | StepSpec;
  /** Attachments of the Before hook (e.g. "skipped: …") and of the After hook (e.g. diagnostics). */
  beforeAttachments?: string[];
  afterAttachments?: Array<{ body: string; fileName?: string; mediaType?: string }>;
}

export interface ScenarioSpec {
  name: string;
  tags?: string[];
  attempts: AttemptSpec[];
}

const STEP_TEXTS = [
  'a stack with 1 hive of 1 worker',
  'a client submits a job',
  'the job completes',
  'the hive logs it',
];
const KEYWORDS = ['Given ', 'When ', 'Then ', 'And '];

export function stream(scenarios: ScenarioSpec[], opts: { uri?: string; feature?: string; t0?: number } = {}): string {
  const uri = opts.uri ?? 'features/x.feature';
  let t = opts.t0 ?? 1_700_000_000_000;
  const ts = () => ({ seconds: Math.floor(t / 1000), nanos: (t % 1000) * 1e6 });
  const out: object[] = [];
  const children = scenarios.map((s, i) => ({
    scenario: {
      id: `sc${i}`,
      name: s.name,
      steps: s.attempts[0]!.steps.map((_, j) => ({
        id: `ast${i}-${j}`,
        keyword: KEYWORDS[j % 4],
        text: STEP_TEXTS[j % 4],
      })),
    },
  }));
  out.push({ gherkinDocument: { uri, feature: { name: opts.feature ?? 'Feature X', children } } });
  out.push({
    hook: { id: 'hb', type: 'BEFORE_TEST_CASE', sourceReference: { uri: 'support/hooks.ts', location: { line: 43 } } },
  });
  out.push({
    hook: { id: 'ha', type: 'AFTER_TEST_CASE', sourceReference: { uri: 'support/hooks.ts', location: { line: 62 } } },
  });
  out.push({ testRunStarted: { id: 'run', timestamp: ts() } });
  scenarios.forEach((s, i) => {
    const n = s.attempts[0]!.steps.length;
    out.push({
      pickle: {
        id: `p${i}`,
        uri,
        name: s.name,
        location: { line: 10 + i },
        astNodeIds: [`sc${i}`],
        tags: (s.tags ?? []).map((name) => ({ name })),
        steps: Array.from({ length: n }, (_, j) => ({
          id: `ps${i}-${j}`,
          text: STEP_TEXTS[j % 4],
          astNodeIds: [`ast${i}-${j}`],
        })),
      },
    });
    out.push({
      testCase: {
        id: `tc${i}`,
        pickleId: `p${i}`,
        testSteps: [
          { id: `tc${i}-before`, hookId: 'hb' },
          ...Array.from({ length: n }, (_, j) => ({ id: `tc${i}-s${j}`, pickleStepId: `ps${i}-${j}` })),
          { id: `tc${i}-after`, hookId: 'ha' },
        ],
      },
    });
  });
  scenarios.forEach((s, i) => {
    s.attempts.forEach((a, k) => {
      const id = `tcs${i}-${k}`;
      out.push({ testCaseStarted: { id, testCaseId: `tc${i}`, attempt: k, timestamp: ts() } });
      const finish = (stepId: string, spec: StepSpec['status'] | StepSpec) => {
        const st = typeof spec === 'string' ? { status: spec } : spec;
        t += 10;
        const exception = st.message ? { exception: { type: st.exceptionType ?? 'Error', message: st.message } } : {};
        const message = st.message
          ? { message: `${st.exceptionType ?? 'Error'}: ${st.message}\n    at step (steps/x.steps.ts:1:1)` }
          : {};
        out.push({
          testStepFinished: {
            testCaseStartedId: id,
            testStepId: stepId,
            testStepResult: { status: st.status, duration: { seconds: 0, nanos: 1e7 }, ...message, ...exception },
            timestamp: ts(),
          },
        });
      };
      for (const body of a.beforeAttachments ?? [])
        out.push({
          attachment: {
            testCaseStartedId: id,
            testStepId: `tc${i}-before`,
            body,
            mediaType: 'text/plain',
            contentEncoding: 'IDENTITY',
          },
        });
      finish(`tc${i}-before`, a.before ?? 'PASSED');
      a.steps.forEach((st, j) => finish(`tc${i}-s${j}`, st));
      for (const at of a.afterAttachments ?? []) {
        out.push({
          attachment: {
            testCaseStartedId: id,
            testStepId: `tc${i}-after`,
            body: at.body,
            mediaType: at.mediaType ?? 'text/plain',
            contentEncoding: 'IDENTITY',
            ...(at.fileName ? { fileName: at.fileName } : {}),
          },
        });
      }
      finish(`tc${i}-after`, a.after ?? 'PASSED');
      t += 100;
      out.push({
        testCaseFinished: { testCaseStartedId: id, willBeRetried: k < s.attempts.length - 1, timestamp: ts() },
      });
    });
  });
  out.push({ testRunFinished: { timestamp: ts(), success: false } });
  return out.map((m) => JSON.stringify(m)).join('\n') + '\n';
}

/** The start (epoch ms) of attempt k of scenario i, as allure-cucumberjs records it. */
export function attemptStarts(ndjson: string): Map<string, number> {
  const starts = new Map<string, number>();
  for (const line of ndjson.split('\n').filter(Boolean)) {
    const m = JSON.parse(line);
    if (m.testCaseStarted)
      starts.set(
        m.testCaseStarted.id,
        m.testCaseStarted.timestamp.seconds * 1000 + m.testCaseStarted.timestamp.nanos / 1e6,
      );
  }
  return starts;
}

// What allure-cucumberjs 3 writes for each attempt: undefined steps without status, the test "passed".
export function rawAllure(ndjson: string): { results: AllureResult[]; containers: AllureContainer[] } {
  const starts = attemptStarts(ndjson);
  const run = parseRun(ndjson);
  const results: AllureResult[] = [];
  const containers: AllureContainer[] = [];
  for (const a of run.attempts) {
    const p = run.pickles.get(a.pickleId)!;
    const uuid = `r-${a.id}`;
    results.push({
      uuid,
      name: p.name,
      start: starts.get(a.id)!,
      status: 'passed',
      labels: [{ name: 'feature', value: p.featureName }, ...p.tags.map((value) => ({ name: 'tag', value }))],
      steps: a.steps
        .filter((s) => s.kind === 'step')
        .map((s) => ({
          name: s.text,
          status:
            s.status === 'PASSED'
              ? 'passed'
              : s.status === 'FAILED'
                ? 'failed'
                : s.status === 'SKIPPED' || s.status === 'PENDING'
                  ? 'skipped'
                  : undefined,
        })),
    });
    containers.push({
      uuid: `c-${a.id}`,
      children: [uuid],
      befores: [{ status: 'passed', steps: [] }],
      afters: [
        {
          status: 'passed',
          steps: a.attachments
            .filter((x) => x.fileName)
            .map((x) => ({
              name: x.fileName,
              attachments: [{ name: x.fileName!, source: `${x.fileName}-attachment`, type: x.mediaType }],
            })),
        },
      ],
    });
  }
  return { results, containers };
}
