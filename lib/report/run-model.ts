// The run as cucumber recorded it in its message stream (NDJSON): every attempt of every scenario, with
// each hook and step result and the attachments. Every report (summary line, JUnit, Allure fix-up) is
// derived from this one model, so they cannot disagree on what happened.

export type StepStatus = 'PASSED' | 'SKIPPED' | 'PENDING' | 'UNDEFINED' | 'AMBIGUOUS' | 'FAILED' | 'UNKNOWN';

/** Worst last: the attempt's status is the highest-ranked status of its steps and hooks. */
export const STATUS_RANK: readonly StepStatus[] = [
  'PASSED',
  'SKIPPED',
  'PENDING',
  'UNDEFINED',
  'AMBIGUOUS',
  'FAILED',
  'UNKNOWN',
];
export const FAILING: ReadonlySet<StepStatus> = new Set(['FAILED', 'UNDEFINED', 'AMBIGUOUS', 'PENDING', 'UNKNOWN']);

export interface StepRun {
  testStepId: string;
  kind: 'before' | 'after' | 'step';
  /** "Given a stack with 1 hive of 1 worker", or "After hook (support/hooks.ts:62)". */
  text: string;
  status: StepStatus;
  durationMs: number;
  message?: string;
  exceptionType?: string;
}

export interface AttachmentRun {
  testStepId?: string;
  mediaType: string;
  fileName?: string;
  body: string;
  base64: boolean;
}

export interface Attempt {
  id: string;
  pickleId: string;
  testCaseId: string;
  /** 0 for the first run, 1 for the first retry … */
  attempt: number;
  startedAt: number;
  finishedAt?: number;
  willBeRetried: boolean;
  steps: StepRun[];
  attachments: AttachmentRun[];
}

export interface PickleInfo {
  id: string;
  name: string;
  uri: string;
  tags: string[];
  featureName: string;
  line?: number;
}

export interface RunModel {
  pickles: Map<string, PickleInfo>;
  /** In the order they started. */
  attempts: Attempt[];
  startedAt?: number;
  finishedAt?: number;
}

const ms = (t?: { seconds: number; nanos: number }) => (t ? t.seconds * 1000 + Math.round(t.nanos / 1e6) : 0);

export function parseRun(ndjson: string): RunModel {
  const features = new Map<string, string>(); // uri → feature name
  const keywords = new Map<string, string>(); // gherkin step ast id → keyword ("Given ")
  const pickleSteps = new Map<string, { text: string; astNodeIds: string[] }>();
  const hooks = new Map<string, { type: string; where: string }>();
  const testCases = new Map<
    string,
    { pickleId: string; steps: Map<string, { hookId?: string; pickleStepId?: string }> }
  >();
  const pickles = new Map<string, PickleInfo>();
  const byId = new Map<string, Attempt>();
  const model: RunModel = { pickles, attempts: [] };
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.gherkinDocument) {
      const doc = m.gherkinDocument;
      features.set(doc.uri, doc.feature?.name ?? doc.uri);
      const visit = (children: any[] = []) => {
        for (const c of children) {
          for (const s of c.background?.steps ?? c.scenario?.steps ?? []) keywords.set(s.id, s.keyword);
          if (c.rule) visit(c.rule.children);
        }
      };
      visit(doc.feature?.children);
    } else if (m.pickle) {
      const p = m.pickle;
      for (const s of p.steps ?? []) pickleSteps.set(s.id, { text: s.text, astNodeIds: s.astNodeIds });
      pickles.set(p.id, {
        id: p.id,
        name: p.name,
        uri: p.uri,
        tags: (p.tags ?? []).map((t: any) => t.name),
        featureName: features.get(p.uri) ?? p.uri,
        ...(p.location ? { line: p.location.line } : {}),
      });
    } else if (m.hook) {
      const where = m.hook.sourceReference?.uri
        ? `${m.hook.sourceReference.uri}:${m.hook.sourceReference.location?.line ?? '?'}`
        : 'unknown';
      hooks.set(m.hook.id, { type: m.hook.type ?? '', where: m.hook.name ? `${m.hook.name}, ${where}` : where });
    } else if (m.testCase) {
      testCases.set(m.testCase.id, {
        pickleId: m.testCase.pickleId,
        steps: new Map((m.testCase.testSteps ?? []).map((s: any) => [s.id, s])),
      });
    } else if (m.testRunStarted) {
      model.startedAt = ms(m.testRunStarted.timestamp);
    } else if (m.testRunFinished) {
      model.finishedAt = ms(m.testRunFinished.timestamp);
    } else if (m.testCaseStarted) {
      const tc = testCases.get(m.testCaseStarted.testCaseId);
      if (!tc) continue;
      const a: Attempt = {
        id: m.testCaseStarted.id,
        pickleId: tc.pickleId,
        testCaseId: m.testCaseStarted.testCaseId,
        attempt: m.testCaseStarted.attempt ?? 0,
        startedAt: ms(m.testCaseStarted.timestamp),
        willBeRetried: false,
        steps: [],
        attachments: [],
      };
      byId.set(a.id, a);
      model.attempts.push(a);
    } else if (m.testStepFinished) {
      const f = m.testStepFinished;
      const a = byId.get(f.testCaseStartedId);
      if (!a) continue;
      // A step the test case does not list (a hand-made stream) still counts, as a plain step.
      const ts = testCases.get(a.testCaseId)?.steps.get(f.testStepId) ?? { pickleStepId: '' };
      const r = f.testStepResult;
      let kind: StepRun['kind'] = 'step';
      let text: string;
      if (ts.hookId) {
        const h = hooks.get(ts.hookId);
        kind = h?.type === 'AFTER_TEST_CASE' ? 'after' : 'before';
        text = `${kind === 'after' ? 'After' : 'Before'} hook (${h?.where ?? 'unknown'})`;
      } else {
        const ps = pickleSteps.get(ts.pickleStepId ?? '');
        const kw = ps?.astNodeIds.map((id) => keywords.get(id)).find((k) => k !== undefined) ?? '';
        text = `${kw}${ps?.text ?? '(unknown step)'}`;
      }
      a.steps.push({
        testStepId: f.testStepId,
        kind,
        text,
        status: r.status,
        durationMs: ms(r.duration),
        ...(r.message ? { message: r.message } : {}),
        ...(r.exception?.type ? { exceptionType: r.exception.type } : {}),
      });
    } else if (m.attachment) {
      const at = m.attachment;
      const a = byId.get(at.testCaseStartedId ?? '');
      if (!a) continue;
      a.attachments.push({
        ...(at.testStepId ? { testStepId: at.testStepId } : {}),
        mediaType: at.mediaType,
        ...(at.fileName ? { fileName: at.fileName } : {}),
        body: at.body,
        base64: at.contentEncoding === 'BASE64',
      });
    } else if (m.testCaseFinished) {
      const a = byId.get(m.testCaseFinished.testCaseStartedId);
      if (!a) continue;
      a.finishedAt = ms(m.testCaseFinished.timestamp);
      a.willBeRetried = !!m.testCaseFinished.willBeRetried;
    }
  }
  return model;
}

/** The worst status of an attempt and the first step (or hook) that has it. */
export function outcome(a: Attempt): { status: StepStatus; step?: StepRun } {
  let worst: StepRun | undefined;
  for (const s of a.steps) if (!worst || STATUS_RANK.indexOf(s.status) > STATUS_RANK.indexOf(worst.status)) worst = s;
  // An attempt cut short (runner killed) has no finished steps: that is not a pass.
  if (!worst) return { status: a.finishedAt ? 'PASSED' : 'UNKNOWN' };
  return { status: worst.status, step: worst };
}

/** Attempts grouped per scenario (pickle), in run order; the last is the one that counts. */
export function attemptsByPickle(run: RunModel): Map<string, Attempt[]> {
  const out = new Map<string, Attempt[]>();
  for (const a of run.attempts) {
    const list = out.get(a.pickleId) ?? [];
    list.push(a);
    out.set(a.pickleId, list);
  }
  for (const list of out.values()) list.sort((x, y) => x.attempt - y.attempt);
  return out;
}

export type Verdict = 'passed' | 'failed' | 'skipped' | 'flaky';

/** Undefined, ambiguous, pending and unknown are failures; a pass after a failed attempt is flaky. */
export function verdict(attempts: Attempt[]): Verdict {
  const last = outcome(attempts.at(-1)!).status;
  if (FAILING.has(last)) return 'failed';
  if (last === 'SKIPPED') return 'skipped';
  return attempts.slice(0, -1).some((a) => FAILING.has(outcome(a).status)) ? 'flaky' : 'passed';
}

/** The scenario ID tag (`@FULL-001` → `FULL-001`). */
export function scenarioId(tags: string[]): string | undefined {
  return tags.find((t) => /^@[A-Z]+-\d+$/.test(t))?.slice(1);
}

/** Text of the attachments of an attempt (decoded), e.g. to find "skipped: …" or the diagnostics. */
export function attachmentText(a: AttachmentRun): string {
  return a.base64 ? Buffer.from(a.body, 'base64').toString('utf8') : a.body;
}
