// JUnit XML from the message stream, in the Surefire dialect CI servers read. Cucumber's own JUnit
// formatter keeps only the last attempt and passes undefined steps; here a scenario that passed on retry
// is a passed testcase with a <flakyFailure> per failed attempt, undefined/ambiguous/pending steps are
// errors, and a failed case carries its diagnostics bundle in <system-out>.

import { classify } from './classify.ts';
import { redact } from './redact.ts';
import {
  attachmentText,
  attemptsByPickle,
  outcome,
  scenarioId,
  verdict,
  type Attempt,
  type PickleInfo,
  type RunModel,
} from './run-model.ts';

export interface JUnitTotals {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  flaky: number;
}

const XML_INVALID = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
export function xmlEscape(s: string): string {
  return s
    .replace(XML_INVALID, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const secs = (a: Attempt) => (((a.finishedAt ?? a.startedAt) - a.startedAt) / 1000).toFixed(3);

/** What a person reads first in a CI's test page: the steps with their status, then the diagnostics. */
function systemOut(a: Attempt): string {
  const lines = a.steps.filter((s) => s.kind === 'step').map((s) => `${s.status.padEnd(9)} ${s.text}`);
  const bundle = a.attachments.find((x) => x.fileName === 'diagnostics.txt');
  const reason = a.attachments.map(attachmentText).find((t) => t.startsWith('skipped: '));
  return [...lines, ...(reason ? ['', reason] : []), ...(bundle ? ['', attachmentText(bundle)] : [])].join('\n');
}

function failureElement(tag: string, a: Attempt, withOut: boolean): string {
  const c = classify(a);
  const msg = c.message ?? outcome(a).status;
  const body = `${xmlEscape(redact(c.trace ?? msg))}`;
  if (tag.startsWith('flaky') || tag.startsWith('rerun')) {
    const out = withOut ? `<system-out>${xmlEscape(redact(systemOut(a)))}</system-out>` : '';
    return `      <${tag} message="${xmlEscape(redact(msg.split('\n')[0]!))}" type="${c.kind ?? 'other'}"><stackTrace>${body}</stackTrace>${out}</${tag}>`;
  }
  return `      <${tag} message="${xmlEscape(redact(msg.split('\n')[0]!))}" type="${c.kind ?? 'other'}">${body}</${tag}>`;
}

function testcase(
  p: PickleInfo,
  tries: Attempt[],
  name: string,
): { xml: string; v: ReturnType<typeof verdict>; error: boolean } {
  const v = verdict(tries);
  const last = tries.at(-1)!;
  const c = classify(last);
  const failedKind = (a: Attempt) => classify(a).status === 'failed';
  const inner: string[] = [];
  const id = scenarioId(p.tags);
  inner.push(
    '      <properties>',
    ...(id ? [`        <property name="id" value="${xmlEscape(id)}"/>`] : []),
    `        <property name="tags" value="${xmlEscape(p.tags.join(' '))}"/>`,
    `        <property name="attempts" value="${tries.length}"/>`,
    '      </properties>',
  );
  let error = false;
  if (v === 'failed') {
    error = c.status !== 'failed';
    inner.push(failureElement(error ? 'error' : 'failure', last, false));
    for (const a of tries.slice(0, -1))
      inner.push(failureElement(failedKind(a) ? 'rerunFailure' : 'rerunError', a, true));
  } else if (v === 'skipped') {
    inner.push(`      <skipped message="${xmlEscape(c.message ?? 'skipped')}"/>`);
  } else if (v === 'flaky') {
    for (const a of tries.slice(0, -1)) {
      if (outcome(a).status !== 'PASSED')
        inner.push(failureElement(failedKind(a) ? 'flakyFailure' : 'flakyError', a, true));
    }
  }
  inner.push(`      <system-out>${xmlEscape(redact(systemOut(last)))}</system-out>`);
  const attrs = `classname="${xmlEscape(p.featureName)}" name="${xmlEscape(name)}" time="${secs(last)}" file="${xmlEscape(p.uri)}"${p.line ? ` line="${p.line}"` : ''}`;
  return { xml: `    <testcase ${attrs}>\n${inner.join('\n')}\n    </testcase>`, v, error };
}

export function junitXml(run: RunModel, suiteName = 'rbee acceptance'): { xml: string; totals: JUnitTotals } {
  const byFeature = new Map<string, Array<{ p: PickleInfo; tries: Attempt[] }>>();
  for (const [pickleId, tries] of attemptsByPickle(run)) {
    const p = run.pickles.get(pickleId) ?? { id: pickleId, name: pickleId, uri: '', tags: [], featureName: 'unknown' };
    const list = byFeature.get(p.uri) ?? [];
    list.push({ p, tries });
    byFeature.set(p.uri, list);
  }
  const totals: JUnitTotals = { tests: 0, failures: 0, errors: 0, skipped: 0, flaky: 0 };
  const suites: string[] = [];
  let totalTime = 0;
  for (const [uri, cases] of byFeature) {
    const t: JUnitTotals = { tests: 0, failures: 0, errors: 0, skipped: 0, flaky: 0 };
    const names = new Map<string, number>();
    for (const { p } of cases) names.set(p.name, (names.get(p.name) ?? 0) + 1);
    const xmlCases: string[] = [];
    let time = 0;
    for (const { p, tries } of cases) {
      const id = scenarioId(p.tags);
      // Scenario outline rows share a name: the example's line tells them apart.
      const name = `${id ? `[${id}] ` : ''}${p.name}${(names.get(p.name) ?? 0) > 1 && p.line ? ` (line ${p.line})` : ''}`;
      const r = testcase(p, tries, name);
      xmlCases.push(r.xml);
      time += tries.reduce((s, a) => s + Number(secs(a)), 0);
      t.tests++;
      if (r.v === 'failed') r.error ? t.errors++ : t.failures++;
      if (r.v === 'skipped') t.skipped++;
      if (r.v === 'flaky') t.flaky++;
    }
    totalTime += time;
    for (const k of Object.keys(totals) as Array<keyof JUnitTotals>) totals[k] += t[k];
    const first = cases[0]!.tries[0]!;
    suites.push(
      `  <testsuite name="${xmlEscape(cases[0]!.p.featureName)}" tests="${t.tests}" failures="${t.failures}" errors="${t.errors}" skipped="${t.skipped}" time="${time.toFixed(3)}" timestamp="${new Date(first.startedAt).toISOString()}" file="${xmlEscape(uri)}">\n${xmlCases.join('\n')}\n  </testsuite>`,
    );
  }
  const head = `<testsuites name="${xmlEscape(suiteName)}" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" skipped="${totals.skipped}" time="${totalTime.toFixed(3)}">`;
  return { xml: `<?xml version="1.0" encoding="UTF-8"?>\n${head}\n${suites.join('\n')}\n</testsuites>\n`, totals };
}
