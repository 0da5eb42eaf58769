// The link proxy: latency and a bandwidth cap on a → b only, for connections that were already open too
// (they are reset once and come back through the proxy); b → a is untouched; unshaping restores the
// direct path and leaves no rule or proxy behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docker } from '../../lib/docker/engine.ts';
import { LABEL } from '../../lib/docker/labels.ts';
import { shapeLink, shapedLinks, unshapeLink } from '../../lib/docker/link.ts';
import { makeSecrets } from '../../lib/stack/secrets.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';
import { getJson, leftovers, noEngine, peerRuntime, runId, workDir } from './helpers.ts';

const skip =
  noEngine ||
  (process.getuid?.() === 0 ? false : 'link shaping needs root (nsenter into container network namespaces)');

interface Probe {
  ok: boolean;
  error?: string;
  bytes?: number;
  ms?: number;
}

test('latency and bandwidth on queen → hub, and back to normal after', { skip, timeout: 180_000 }, async () => {
  const spec = new StackSpecBuilder().hives(1, 0).build();
  const stack = await (
    await peerRuntime({ only: ['hub', 'queen'] })
  ).start(spec, await makeSecrets(), {
    runId,
    stackId: 'link',
    workDir: workDir('link'),
    healthTimeoutMs: 20_000,
  });
  try {
    const queen = stack.service('queen');
    const hub = stack.service('hub');
    const probe = async (from: typeof queen, to: string, timeout = 10_000): Promise<Probe> =>
      getJson(`${from.url}/probe?url=${encodeURIComponent(to)}&timeout=${timeout}`, undefined, timeout + 5000);
    const direct = await probe(queen, 'http://hub:8000/health');
    assert.ok(direct.ok && direct.ms! < 200, `direct: ${JSON.stringify(direct)}`);

    const link = await shapeLink(stack, 'queen', 'hub', { latencyMs: 300 });
    // The keep-alive connection opened before is reset once; the retry goes through the proxy.
    let slow = await probe(queen, 'http://hub:8000/health');
    if (!slow.ok) slow = await probe(queen, 'http://hub:8000/health');
    assert.ok(slow.ok, JSON.stringify(slow));
    assert.ok(slow.ms! >= 600, `request and response each delayed 300 ms: took ${slow.ms} ms`);
    const reverse = await probe(hub, 'http://queen:8080/health');
    assert.ok(reverse.ok && reverse.ms! < 200, `hub → queen is not shaped: ${JSON.stringify(reverse)}`);
    await unshapeLink(stack, link);

    await shapeLink(stack, 'queen', 'hub', { bandwidthBps: 200_000 });
    let big = await probe(queen, 'http://hub:8000/bytes?n=400000');
    if (!big.ok) big = await probe(queen, 'http://hub:8000/bytes?n=400000');
    assert.equal(big.bytes, 400_000, JSON.stringify(big));
    assert.ok(big.ms! >= 1500 && big.ms! < 6000, `400 kB at 200 kB/s took ${big.ms} ms`);
    await unshapeLink(stack);
    assert.deepEqual(shapedLinks(stack), []);
    const proxies = await docker().listContainers({ all: true, filters: { label: [`${LABEL.stack}=${stack.id}`] } });
    assert.deepEqual(proxies.map((c) => c.Labels[LABEL.service]).sort(), ['hub', 'queen'], 'proxy containers are gone');

    let after = await probe(queen, 'http://hub:8000/bytes?n=400000');
    if (!after.ok) after = await probe(queen, 'http://hub:8000/bytes?n=400000');
    assert.ok(after.ok && after.ms! < 500, `direct again: ${JSON.stringify(after)}`);
  } finally {
    await stack.stop();
  }
  assert.deepEqual(await leftovers('link'), []);
});
