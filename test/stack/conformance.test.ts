// Conformance of the reference stack to the contract's vocabulary: a real stack (process runtime) runs a
// job, a worker is stopped and a bad request is refused; then every JSON log line every service wrote is
// checked against lib/contract/logs.ts (the four fields, a declared event from a service declared for it,
// with its fields) and every service's /metrics against lib/contract/metrics.ts. Anything undeclared is
// listed. Another team's build runs the same checks through the acceptance suite's contract steps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logLineProblems } from '../../lib/contract/logs.ts';
import { expositionProblems } from '../../lib/contract/metrics.ts';
import { Job } from '../../lib/clients/job.ts';
import { HttpClient } from '../../lib/clients/http.ts';
import { ProcessRuntime } from '../../lib/stack/process-runtime.ts';
import { Stack } from '../../lib/stack/stack.ts';
import { DEFAULT_MODEL, StackSpecBuilder } from '../../lib/stack/spec.ts';
import { eventually } from '../../lib/observe/eventually.ts';

test(
  'every log line and metric the reference stack emits is declared in the contract',
  { timeout: 120_000 },
  async () => {
    const spec = new StackSpecBuilder().hives(1, 2).build();
    const stack = await Stack.start(spec, new ProcessRuntime({ links: false }), {
      runId: `t${process.pid}`,
      stackId: 'conformance',
    });
    try {
      const job = await Job.submit(stack.queen, { model: DEFAULT_MODEL, prompt: 'hello', max_tokens: 4 });
      await job.done();
      const [first] = await stack.workersOf('hive-a');
      await stack.queen.shutdownWorker(first!.worker_id);
      await eventually(async () => assert.equal((await stack.hive('hive-a').workers()).length, 1), {
        within: 10_000,
        what: 'the stopped worker to be gone',
      });
      await stack.queen.submitTask({ model: DEFAULT_MODEL, prompt: '', max_tokens: -1 } as never).catch(() => {});

      const problems = new Map<string, string>();
      for (const line of stack.logs()) {
        for (const p of logLineProblems(line as Record<string, unknown>))
          if (!problems.has(p)) problems.set(p, JSON.stringify(line).slice(0, 300));
      }
      const services = [...stack.running.services.values()].map((s) => s.url);
      const workers = (await stack.hive('hive-a').workers()).map((w) => stack.reachable(w.url));
      for (const url of [...services, ...workers]) {
        const text = (await new HttpClient(url).get('/metrics')).text;
        assert.match(text, /# TYPE/, `${url}/metrics serves an exposition`);
        for (const p of expositionProblems(text)) problems.set(p, url);
      }
      assert.deepEqual(
        [...problems].map(([p, example]) => `${p} — e.g. ${example}`),
        [],
        'everything the stack emits must be declared in lib/contract/',
      );
    } finally {
      await stack.stop();
    }
  },
);
