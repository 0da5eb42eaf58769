import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Job } from '../../lib/clients/job.ts';
import { parseSseText, type SseEvent, type SseResult } from '../../lib/clients/sse.ts';
import type { QueenClient, TaskRequest } from '../../lib/clients/rbee.ts';
import type { StreamResponse } from '../../lib/clients/http.ts';
import { anomaliesOf, historyOfJobs } from '../../lib/checks/accounted.ts';
import { formatAnomalies } from '../../lib/checks/history.ts';

const task: TaskRequest = { model: 'm', prompt: 'p', max_tokens: 3 };
const narration = (id: string) =>
  `data: {"type":"narration","actor":"queen-rbee","job_id":"${id}","worker_id":"w-1","node_name":"hive-a"}\n\n`;
const tokens = (...is: number[]) => is.map((i) => `data: {"type":"token","t":"x","i":${i}}\n\n`).join('');

/** A queen whose answer is a stream of `body` (its events delivered as they would arrive), or held open, or no answer. */
function queen(answer: 'stream' | 'open' | 'no-answer' | 'refuse', body = ''): QueenClient {
  const submitTask = async (_t: TaskRequest, o?: { onEvent?: (e: SseEvent) => void }): Promise<StreamResponse> => {
    if (answer === 'no-answer') throw new Error('http://queen/v2/tasks (stream) failed: connect ECONNREFUSED');
    if (answer === 'refuse') {
      const json = { error: { code: 'HIVE_UNAVAILABLE', retryable: true } };
      const error = { status: 503, headers: {}, text: JSON.stringify(json), json, ms: 2 };
      return {
        status: 503,
        headers: {},
        error,
        result: Promise.resolve({ events: [], done: false, malformed: [], endMs: 2 }),
        abort: () => {},
      };
    }
    const parsed = await parseSseText(body);
    for (const e of parsed.events) o?.onEvent?.(e);
    const result: Promise<SseResult> =
      answer === 'open' ? new Promise(() => {}) : Promise.resolve({ ...parsed, firstByteMs: 1 });
    // The queen names the job's correlation id when the client gave none.
    return {
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'x-correlation-id': `q-${parsed.events[0]?.data?.job_id}` },
      result,
      abort: () => {},
    };
  };
  return { submitTask, inference: submitTask } as unknown as QueenClient;
}

test('jobs that ended, errored or were refused are accounted for; none is lost', async () => {
  const jobs = [
    Job.begin(
      queen('stream', narration('j-1') + tokens(0, 1, 2) + 'data: {"type":"end","tokens_out":3}\n\ndata: [DONE]\n\n'),
      task,
    ),
    Job.begin(
      queen(
        'stream',
        narration('j-2') +
          tokens(0, 1) +
          'data: {"type":"error","code":"WORKER_CRASHED","retryable":true}\n\ndata: [DONE]\n\n',
      ),
      task,
    ),
    Job.begin(queen('refuse'), task),
  ];
  const h = await historyOfJobs(jobs, 1000);
  assert.deepEqual(
    h.entries.map((e) => e.outcome),
    ['end', 'error', 'refused'],
  );
  assert.deepEqual(anomaliesOf(h), []);
});

test('a job still streaming at the bound is lost, a token delivered twice is duplicated; a job never answered was never accepted', async () => {
  const jobs = [
    Job.begin(queen('open', narration('j-3') + tokens(0)), task),
    Job.begin(
      queen('stream', narration('j-4') + tokens(0, 1, 1) + 'data: {"type":"end","tokens_out":3}\n\ndata: [DONE]\n\n'),
      task,
    ),
    Job.begin(queen('no-answer'), task),
  ];
  const t0 = Date.now();
  const h = await historyOfJobs(jobs, 100);
  assert.ok(Date.now() - t0 < 1000, 'bounded');
  assert.deepEqual(
    h.entries.map((e) => e.outcome),
    ['pending', 'end', 'refused'],
  );
  assert.equal(h.entries[2]!.failure?.code, 'NO_ANSWER');
  const found = anomaliesOf(h);
  assert.deepEqual(
    found.map((a) => [a.kind, a.jobs]),
    [
      ['lost', [0]],
      ['tokens-duplicated', [1]],
    ],
  );
  const text = formatAnomalies(found, h);
  assert.match(
    text,
    /^lost \[jobs #0 \(q-j-3\)\]: job #0 \(q-j-3, j-3 on w-1@hive-a\): accepted \(200\) and never terminated: 2 event\(s\), last token \(its stream had not ended 100 ms after the check began\)$/m,
  );
  assert.match(text, /^tokens-duplicated \[jobs #1 \(q-j-4\)\]: job #1 \(q-j-4, j-4 on w-1@hive-a\): token i=1 ×2$/m);
  // Other kinds on request: the same job also ended claiming 3 tokens while only 2 distinct ones arrived.
  assert.deepEqual(
    anomaliesOf(h, ['tokens-out-of-order']).map((a) => a.jobs),
    [[1]],
  );
});
