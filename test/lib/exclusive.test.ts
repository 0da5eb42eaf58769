// The exclusive-use checks of FULL-006: one ended span per job on the worker the queen named (else the
// overlap check would pass on nothing), and no two spans overlapping on one worker.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobsWithoutOneEndedSpan, overlappingJobs } from '../../lib/checks/exclusive.ts';
import { jobSpansFromLogs } from '../../lib/checks/history.ts';
import type { LogLine } from '../../lib/observe/logs.ts';

const line = (ts: number, event: string, worker_id: string, job_id: string): LogLine =>
  ({ ts: new Date(ts).toISOString(), service: 'worker', event, worker_id, job_id }) as LogLine;

test('each job needs exactly one ended span, on the worker the queen named', () => {
  const spans = jobSpansFromLogs([
    line(1000, 'job.started', 'w1', 'j1'),
    line(2000, 'job.finished', 'w1', 'j1'),
    line(1000, 'job.started', 'w2', 'j2'), // never ended
    line(1500, 'job.started', 'w1', 'j3'),
    line(1600, 'job.finished', 'w1', 'j3'),
  ]);
  const problems = jobsWithoutOneEndedSpan(
    [
      { label: 'a', jobId: 'j1', workerId: 'w1' },
      { label: 'b', jobId: 'j2', workerId: 'w2' },
      { label: 'c', jobId: 'j3', workerId: 'w2' }, // ran on w1, not where the queen said
      { label: 'd', jobId: 'j4', workerId: 'w1' }, // no span at all
    ],
    spans,
  );
  assert.deepEqual(
    problems.map((p) => p.split(' ')[0]),
    ['b', 'c', 'd'],
  );
  assert.deepEqual(jobsWithoutOneEndedSpan([], []), [], 'no jobs, no problems');
});

test('a job that starts on a worker before the one before it ended there is an overlap, named once', () => {
  const spans = jobSpansFromLogs([
    line(1000, 'job.started', 'w1', 'j1'),
    line(1500, 'job.started', 'w1', 'j2'),
    line(2000, 'job.finished', 'w1', 'j1'),
    line(2500, 'job.finished', 'w1', 'j2'),
    line(1000, 'job.started', 'w2', 'j3'),
    line(2000, 'job.cancelled', 'w2', 'j3'),
    line(2000, 'job.started', 'w2', 'j4'), // starts as j3 ends: not an overlap
    line(2100, 'job.finished', 'w2', 'j4'),
  ]);
  const overlaps = overlappingJobs(spans);
  assert.equal(overlaps.length, 1, overlaps.join('\n'));
  assert.match(overlaps[0]!, /^w1: job j2 started at .* before job j1 ended at /);
});
