// Why an attempt did not pass, in the terms a reader acts on: the product broke a promise, the harness
// itself failed (setup, hooks, cucumber's own step timeout), a step is undefined/ambiguous/pending, or a
// fault did not apply to this runtime. Allure categories and JUnit failure types are derived from this.

import { attachmentText, outcome, type Attempt } from './run-model.ts';

export type Kind = 'product' | 'harness' | 'definition' | 'not-applied' | 'skipped' | 'other';

export interface Classified {
  /** Allure's vocabulary: failed = a product assertion; broken = anything else that went wrong. */
  status: 'passed' | 'failed' | 'broken' | 'skipped';
  kind?: Kind;
  /** One line (or a few) saying what happened, prefixed so categories can match it. */
  message?: string;
  trace?: string;
  /** The step or hook that decided it. */
  step?: string;
}

/** Errors a step throws when the system did not do what the scenario says. */
const PRODUCT_ERRORS = new Set(['AssertionError', 'WaitTimeoutError', 'GiveUp']);
const HARNESS_PATTERNS: Array<[RegExp, string]> = [
  [/never became healthy/, 'a service of the stack never became healthy'],
  [/function timed out, ensure the (promise|callback)/, 'cucumber step timeout (a step hung past the backstop)'],
  [/harness is not initialised|bad configuration:/, 'harness set-up'],
];

export const MESSAGE_PREFIX = {
  harness: 'Harness error',
  notApplied: 'skipped: ',
  definition: /^(Undefined|Ambiguous|Pending) step/,
} as const;

export function classify(a: Attempt): Classified {
  const { status, step } = outcome(a);
  const firstLine = (m?: string) => (m ?? '').split('\n')[0]!;
  switch (status) {
    case 'PASSED':
      return { status: 'passed' };
    case 'SKIPPED': {
      // The harness attaches "skipped: <reason>" when a fault cannot be injected in this runtime.
      const reason = a.attachments.map(attachmentText).find((t) => t.startsWith(MESSAGE_PREFIX.notApplied));
      const unsupported = a.steps.find(
        (s) => s.exceptionType === 'FaultUnsupported' || /FaultUnsupported/.test(s.message ?? ''),
      );
      if (reason || unsupported)
        return {
          status: 'skipped',
          kind: 'not-applied',
          message: reason ?? `${MESSAGE_PREFIX.notApplied}${firstLine(unsupported!.message)}`,
        };
      return { status: 'skipped', kind: 'skipped', message: `skipped at: ${step?.text ?? 'unknown step'}` };
    }
    case 'UNDEFINED':
    case 'AMBIGUOUS':
    case 'PENDING': {
      const word = status[0] + status.slice(1).toLowerCase();
      const detail = step?.message
        ? `\n${step.message}`
        : status === 'UNDEFINED'
          ? '\nno step definition matches it: run ./run-integration-tests.sh --profile lint for a snippet'
          : '';
      return {
        status: 'broken',
        kind: 'definition',
        message: `${word} step: "${step?.text ?? '?'}"${detail}`,
        ...(step ? { step: step.text } : {}),
      };
    }
    case 'FAILED': {
      const s = step!;
      const msg = s.message ?? 'failed without a message';
      const base = { ...(s.message ? { trace: s.message } : {}), step: s.text };
      if (s.kind !== 'step')
        return {
          ...base,
          status: 'broken',
          kind: 'harness',
          message: `${MESSAGE_PREFIX.harness}: ${s.text} failed: ${messagePart(msg)}`,
        };
      const harness = HARNESS_PATTERNS.find(([re]) => re.test(msg));
      if (harness)
        return {
          ...base,
          status: 'broken',
          kind: 'harness',
          message: `${MESSAGE_PREFIX.harness} (${harness[1]}): ${messagePart(msg)}`,
        };
      if (PRODUCT_ERRORS.has(s.exceptionType ?? '') || /^AssertionError\b/.test(msg))
        return { ...base, status: 'failed', kind: 'product', message: messagePart(msg) };
      return { ...base, status: 'broken', kind: 'other', message: messagePart(msg) };
    }
    default:
      return {
        status: 'broken',
        kind: 'other',
        message: `status ${status}${step ? ` at ${step.text}` : ' (the attempt never finished)'}`,
      };
  }
}

// Cucumber's message is the error's stack: the message part is the title, the trace keeps the rest.
function messagePart(msg: string): string {
  return msg.split('\n    at ')[0]!;
}
