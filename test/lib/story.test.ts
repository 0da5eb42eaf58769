import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeOf, removalsSince, storyOf, withCause } from '../../lib/observe/story.ts';
import type { LogLine } from '../../lib/observe/logs.ts';

const line = (ts: string, service: string, event: string, level: string, msg: string, o: Partial<LogLine> = {}) =>
  ({ ts: `2026-01-01T00:00:${ts}Z`, service, event, level, msg, ...o }) as LogLine;

const lines: LogLine[] = [
  line('01.000', 'hive', 'worker.spawned', 'info', 'worker spawned', { worker_id: 'w-1' }),
  line('01.500', 'hive', 'worker.ready', 'info', 'worker ready', { worker_id: 'w-1' }),
  line('04.000', 'hive', 'worker.unhealthy', 'warn', 'worker unhealthy: no heartbeat for 2224 ms', {
    worker_id: 'w-1',
  }),
  line('05.500', 'hive', 'worker.removed', 'warn', 'worker removed: unhealthy for more than 1500 ms', {
    worker_id: 'w-1',
  }),
  line('02.000', 'hive', 'worker.spawned', 'info', 'worker spawned', { worker_id: 'w-2' }),
];

test("a failed wait's first line leads with what the services logged about the object", () => {
  assert.equal(
    storyOf(lines, 'w-1'),
    'hive:worker.spawned → hive:worker.ready → hive:worker.unhealthy → hive:worker.removed',
  );
  assert.equal(
    causeOf(lines, 'w-1'),
    'hive worker.removed: worker removed: unhealthy for more than 1500 ms (after hive worker.unhealthy: worker unhealthy: no heartbeat for 2224 ms)',
  );
  assert.equal(causeOf(lines, 'w-2'), undefined);
  const e = withCause(new Error("state of w-1: expected undefined to equal 'idle'"), lines, ['w-1']) as Error;
  assert.match(
    e.message.split('\n')[0]!,
    /^w-1: hive worker.removed: .*unhealthy for more than 1500 ms.* — state of w-1/,
  );
  assert.match(e.message, /what the services logged:\n {2}w-1: hive:worker.spawned/);
  const hb = [
    line('03.000', 'hive', 'heartbeat.failed', 'warn', 'heartbeat to the queen failed; will keep retrying', {
      node_name: 'hive-a',
      status: 404,
      code: 'NOT_FOUND',
      err: 'no route POST /v2/hive/heartbeat',
    }),
  ];
  assert.equal(
    causeOf(hb, 'hive-a'),
    'hive heartbeat.failed: heartbeat to the queen failed; will keep retrying [404 NOT_FOUND no route POST /v2/hive/heartbeat]',
  );
  const same = new Error('nothing bad said');
  assert.equal((withCause(same, lines, ['w-2']) as Error).message, 'nothing bad said');
});

test("removalsSince names each worker the hive removed since a time, with the hive's reason", () => {
  const removed = [
    ...lines,
    line('06.000', 'hive', 'worker.removed', 'warn', 'worker removed', { worker_id: 'w-2', reason: 'crashed' }),
    line('06.100', 'queen', 'worker.removed', 'info', 'not the hive', { worker_id: 'w-3' }),
  ];
  assert.deepEqual(removalsSince(removed, Date.parse('2026-01-01T00:00:05.000Z')), [
    'w-1 (no reason given)',
    'w-2 (crashed)',
  ]);
  assert.deepEqual(removalsSince(removed, Date.parse('2026-01-01T00:00:07.000Z')), []);
});
