// The harness holds the stack to the contract and only to it: every log event and metric that steps/,
// lib/, support/ or the feature files read must be declared in lib/contract/. A check that reads the
// reference stack's private vocabulary would give false reds or false passes against another build.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LOG_EVENTS, logLineProblems } from '../../lib/contract/logs.ts';
import { expositionProblems, isDeclaredMetric } from '../../lib/contract/metrics.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function files(dir: string, ext: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => path.join(dir, f));
}

const harness = [...files('steps', '.ts'), ...files('lib', '.ts'), ...files('support', '.ts')].filter(
  (f) => !f.startsWith('lib/contract/'),
);
const features = files('features', '.feature');

/** Event-like names in quotes: a known family, a dot, a lower-case name (file names such as hive.db aside). */
const EVENT =
  /['"`]((?:job|worker|workers|hive|heartbeat|shutdown|model|service|store|catalog|registry|queen|download|hub|auth|circuit)\.[a-z_]+(?:\.[a-z_]+)*)['"`]/g;
const METRIC = /['"`]((?:rbee_[a-z_]+)|(?:process_[a-z_]+)|(?:nodejs_[a-z_]+))['"`]/g;

function namesIn(list: string[], re: RegExp): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of list) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of text.matchAll(re)) {
      if (/\.(db|log|json|mjs|ts)$/.test(m[1]!)) continue;
      if (!found.has(m[1]!)) found.set(m[1]!, f);
    }
  }
  return found;
}

test('every log event the harness reads is declared in the contract', () => {
  const read = namesIn([...harness, ...features], EVENT);
  assert.ok(read.size > 10, `found only ${read.size} event names: the scan is broken`);
  const undeclared = [...read].filter(([name]) => !(name in LOG_EVENTS)).map(([n, f]) => `${n} (read in ${f})`);
  assert.deepEqual(undeclared, []);
});

test('every metric the harness reads is declared in the contract', () => {
  const read = namesIn([...harness, ...features], METRIC);
  assert.ok(read.size > 3, `found only ${read.size} metric names: the scan is broken`);
  const undeclared = [...read].filter(([name]) => !isDeclaredMetric(name)).map(([n, f]) => `${n} (read in ${f})`);
  assert.deepEqual(undeclared, []);
});

test('a log line is checked against the declarations: unknown event, wrong service, missing field, bad shape', () => {
  const base = { ts: '2026-12-02T10:00:00.000Z', level: 'info', msg: 'm' };
  assert.deepEqual(logLineProblems({ ...base, service: 'hive', event: 'worker.spawned', worker_id: 'w', pid: 1 }), []);
  assert.match(
    logLineProblems({ ...base, service: 'hive', event: 'worker.spwned' })[0]!,
    /"worker.spwned" is not declared/,
  );
  assert.match(
    logLineProblems({ ...base, service: 'queen', event: 'job.started', job_id: 'j', worker_id: 'w' })[0]!,
    /from queen, declared only for worker/,
  );
  assert.match(
    logLineProblems({ ...base, service: 'hive', event: 'worker.crashed', worker_id: 'w' }).join(' '),
    /without its field "exit_code"/,
  );
  assert.match(logLineProblems({ level: 'info', service: 'hive', msg: 'm' })[0]!, /field ts/);
});

test('an exposition is checked: undeclared name, wrong type, undeclared label', () => {
  const ok =
    '# TYPE rbee_hive_workers gauge\nrbee_hive_workers{state="idle"} 1\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1\n';
  assert.deepEqual(expositionProblems(ok), []);
  const bad =
    '# TYPE rbee_hive_wrkers gauge\n# TYPE rbee_hive_workers counter\nrbee_hive_workers{state="idle",pool="a"} 1\n';
  const p = expositionProblems(bad).join('\n');
  assert.match(p, /rbee_hive_wrkers is not declared/);
  assert.match(p, /rbee_hive_workers is a counter, declared a gauge/);
  assert.match(p, /undeclared labels pool/);
});
