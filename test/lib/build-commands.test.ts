// Another build under the process runtime: RBEE_BUILD_<KIND>_CMD replaces the reference bundle; a command
// that is not there is refused with the variable, the word and what to give instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceCommand } from '../../lib/stack/build-commands.ts';

test('the reference bundle by default, another build when its command is given', () => {
  assert.deepEqual(serviceCommand('queen', '/b/queen.mjs', {}), [process.execPath, '/b/queen.mjs']);
  assert.deepEqual(serviceCommand('hive', '/b/hive.mjs', { RBEE_BUILD_HIVE_CMD: '  /bin/sh  -c  x ' }), [
    '/bin/sh',
    '-c',
    'x',
  ]);
  assert.deepEqual(serviceCommand('worker', '/b/w.mjs', { RBEE_BUILD_WORKER_CMD: 'sh run', PATH: '/bin:/usr/bin' }), [
    'sh',
    'run',
  ]);
});

test('a command that is not there is a clear error', () => {
  assert.throws(
    () => serviceCommand('queen', '/b/q.mjs', { RBEE_BUILD_QUEEN_CMD: '/nope/queen-rbee --x' }),
    /RBEE_BUILD_QUEEN_CMD=\/nope\/queen-rbee --x: \/nope\/queen-rbee is not a file; give the command that starts your queen/,
  );
  assert.throws(
    () => serviceCommand('hub', '/b/h.mjs', { RBEE_BUILD_HUB_CMD: 'no-such-hub', PATH: '/bin' }),
    /no-such-hub is not on PATH/,
  );
});
