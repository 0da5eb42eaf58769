// Shared by the docker runtime tests: whether an engine answers (the tests skip with that reason when
// not), an app image that also carries the test fixtures, and a way to list what a stack left behind.

import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preflight, docker } from '../../lib/docker/engine.ts';
import { ensureAppImage } from '../../lib/docker/images.ts';
import { LABEL } from '../../lib/docker/labels.ts';
import { DockerRuntime, type DockerRuntimeOptions } from '../../lib/docker/docker-runtime.ts';

const p = await preflight();
/**
 * Reason to skip, or false when an engine answers (node:test's `skip` option takes either). CI sets
 * RBEE_REQUIRE_DOCKER=1 so that a missing engine fails the run instead of skipping these tests.
 */
export const noEngine: string | false = p.ok ? false : `${p.reason} — start one with scripts/ensure-docker.sh`;
if (noEngine && process.env.RBEE_REQUIRE_DOCKER === '1') throw new Error(`RBEE_REQUIRE_DOCKER=1 but ${noEngine}`);

export const runId = `t${process.pid}`;

// Registered at import, i.e. on the test file's root: the parent of all work dirs goes when the file ends.
const base = mkdtempSync(join(tmpdir(), 'rbee-docker-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A fresh work dir for one stack (the stack itself removes it on stop). */
export function workDir(name: string): string {
  return join(base, name);
}

/** The app image plus test/docker/fixtures (the `peer` stand-in service). */
export async function fixtureImage(): Promise<string> {
  return (await ensureAppImage({ extra: ['test/docker/fixtures'] })).ref;
}

/** A runtime whose every service is the peer fixture (plain node, no tsx), so only the runtime is tested. */
export async function peerRuntime(opts: DockerRuntimeOptions = {}): Promise<DockerRuntime> {
  return new DockerRuntime({
    image: await fixtureImage(),
    command: () => ['node', 'test/docker/fixtures/peer.mjs'],
    ...opts,
  });
}

/** Containers and networks still labelled with this stack id. */
export async function leftovers(stackId: string): Promise<string[]> {
  const d = docker();
  const filter = { label: [`${LABEL.stack}=${runId}/${stackId}`] };
  const cs = await d.listContainers({ all: true, filters: filter });
  const ns = await d.listNetworks({ filters: filter });
  return [...cs.map((c) => `container ${c.Names[0]}`), ...ns.map((n) => `network ${n.Name}`)];
}

export async function getJson(url: string, token?: string, timeoutMs = 5000): Promise<any> {
  const r = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return r.json();
}
