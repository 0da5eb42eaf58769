// A runner SIGKILLed in the middle of a scenario leaves its stack behind (nothing can stop that); the
// next run's start must sweep it: no labelled process, container, network or stack directory of the
// dead run survives. Checked for each runtime this machine has.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../lib/observe/eventually.ts';
import { labelledProcesses, stacksDir } from '../../lib/stack/reaper.ts';
import { docker } from '../../lib/docker/engine.ts';
import { LABEL } from '../../lib/docker/labels.ts';
import { dockerUnavailable } from '../../lib/docker/docker-runtime.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const noDocker = await dockerUnavailable();

async function leftoversOf(runId: string): Promise<string[]> {
  const found = labelledProcesses()
    .filter((p) => p.run === runId)
    .map((p) => `process ${p.pid} ${p.cmd.slice(0, 60)}`);
  if (fs.existsSync(path.join(stacksDir(), runId))) found.push(`directory ${path.join(stacksDir(), runId)}`);
  if (!noDocker) {
    const filters = { label: [`${LABEL.run}=${runId}`] };
    found.push(...(await docker().listContainers({ all: true, filters })).map((c) => `container ${c.Names[0]}`));
    found.push(...(await docker().listNetworks({ filters })).map((n) => `network ${n.Name}`));
  }
  return found;
}

for (const runtime of ['process', 'docker'] as const) {
  test(
    `a SIGKILLed runner's ${runtime} stack is swept by the next run`,
    { skip: runtime === 'docker' && noDocker, timeout: 180_000 },
    async () => {
      const runId = `killed-${runtime}-${process.pid}`;
      const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-killed-'));
      const env = { ...process.env, RBEE_RUN_ID: runId, RBEE_REPORTS_DIR: reports, NODE_OPTIONS: '' };
      // A long job (FULL-005 streams 200 tokens slowly): the runner is killed while its stack is up.
      const runner = spawn('bash', ['run-integration-tests.sh', '--runtime', runtime, '--tags', '@FULL-005'], {
        cwd: root,
        env,
        detached: true,
        stdio: 'ignore',
      });
      try {
        await eventually(
          async () => {
            const left = await leftoversOf(runId);
            assert.ok(
              left.filter((l) => /process|container/.test(l)).length >= 3,
              `stack not up yet: ${left.join(', ')}`,
            );
          },
          { within: 90_000, every: 250, what: `the ${runtime} stack of run ${runId} to be up` },
        );
      } finally {
        process.kill(-runner.pid!, 'SIGKILL'); // the runner (bash, cucumber, its workers) dies without cleanup
      }
      await eventually(() => assert.throws(() => process.kill(runner.pid!, 0)), {
        within: 5000,
        what: 'the runner to be dead',
      });
      assert.notDeepEqual(
        await leftoversOf(runId),
        [],
        'a killed runner leaves its stack behind (else this test proves nothing)',
      );

      // The next run: its preflight sweeps leftovers of dead runs before anything starts.
      const next = spawnSync('bash', ['run-integration-tests.sh', '--runtime', runtime, '--profile', 'lint'], {
        cwd: root,
        env: { ...env, RBEE_RUN_ID: `${runId}-next` },
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(next.status, 0, next.stderr);
      assert.deepEqual(await leftoversOf(runId), []);
      fs.rmSync(reports, { recursive: true, force: true });
    },
  );
}
