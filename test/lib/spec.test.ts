import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StackSpecBuilder, defaultSpec, parseSpec } from '../../lib/stack/spec.ts';

test('the builder makes hives a, b, … with the asked number of workers', () => {
  const spec = new StackSpecBuilder().hives(2, 3).build();
  assert.deepEqual(
    spec.hives.map((h) => [h.name, h.workers]),
    [
      ['hive-a', 3],
      ['hive-b', 3],
    ],
  );
});

test('a bad spec fails with one line naming each bad field', () => {
  const bad = {
    ...defaultSpec(),
    hives: [{ name: 'Hive A', workers: 99, model: '', heartbeatToQueen: true, env: {} }],
  };
  assert.throws(
    () => parseSpec(bad),
    (e: Error) => /hives\.0\.name/.test(e.message) && /hives\.0\.workers/.test(e.message) && !e.message.includes('\n'),
  );
});

test('unknown fields and duplicate hive names are rejected', () => {
  assert.throws(() => parseSpec({ ...defaultSpec(), hivez: [] }), /Unrecognized key/);
  const dup = defaultSpec();
  dup.hives.push({ ...dup.hives[0]! });
  assert.throws(() => parseSpec(dup), /hive name "hive-a" is used twice/);
});

test('env names must be UPPER_SNAKE', () => {
  assert.throws(() => new StackSpecBuilder().workerEnv({ 'mock-load': '1' }).build(), /workerEnv\.mock-load/);
});
