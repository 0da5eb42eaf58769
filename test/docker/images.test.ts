// Images are built locally (no registry) and cached by content: a second build of an unchanged tree
// reuses the tag, in a fresh process too (the cache is the engine's image list, not memory). The tree is
// a snapshot (hard links), so people editing stack/ meanwhile cannot make the test race.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker } from '../../lib/docker/engine.ts';
import { ensureAppImage, PROJECT_ROOT } from '../../lib/docker/images.ts';
import { LABEL } from '../../lib/docker/labels.ts';
import { noEngine } from './helpers.ts';

function snapshot(): string {
  const root = mkdtempSync(join(tmpdir(), 'rbee-image-snapshot-'));
  // Hard links where possible: node_modules is 150 MB.
  execFileSync('cp', ['-al', join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules')]);
  cpSync(join(PROJECT_ROOT, 'stack'), join(root, 'stack'), { recursive: true });
  cpSync(join(PROJECT_ROOT, 'package.json'), join(root, 'package.json'));
  mkdirSync(join(root, 'docker'));
  for (const f of ['app.Dockerfile', 'deps.Dockerfile'])
    cpSync(join(PROJECT_ROOT, 'docker', f), join(root, 'docker', f));
  return root;
}

function buildInFreshProcess(root: string): { base: string; app: string; out: string } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'docker/build-images.ts', '--root', root], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  const base = /^base (\S+) (built|cached)/m.exec(out);
  const app = /^app +(\S+) (built|cached)/m.exec(out);
  assert.ok(base?.[1] && app?.[1], `unexpected output of build-images: ${out}`);
  return { base: `${base[1]} ${base[2]}`, app: `${app[1]} ${app[2]}`, out: out.trim() };
}

test(
  'base and app images build without a registry and are reused when nothing changed',
  { skip: noEngine, timeout: 300_000 },
  async (t) => {
    const root = snapshot();
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const first = buildInFreshProcess(root);
    const second = buildInFreshProcess(root);
    t.diagnostic(`first:\n${first.out}\nsecond:\n${second.out}`);
    // Whatever the first did (built, or found from an earlier run), the second must hit the same tags.
    assert.equal(second.base, first.base.replace(/built$/, 'cached'));
    assert.equal(second.app, first.app.replace(/built$/, 'cached'));

    const appRef = second.app.split(' ')[0]!;
    const baseRef = second.base.split(' ')[0]!;
    for (const ref of [baseRef, appRef]) {
      const info = await docker().getImage(ref).inspect();
      assert.equal(info.Config.Labels?.[LABEL.owner], '1', `${ref} carries the ownership label`);
    }
    const appInfo = await docker().getImage(appRef).inspect();
    assert.equal(appInfo.Config.User, '10001:10001');
    assert.equal(appInfo.Config.WorkingDir, '/app');

    // One changed source file under stack/ → new bundles → a new tag.
    appendFileSync(join(root, 'stack', 'hub', 'main.ts'), '\n// touched by test\n');
    const changed = await ensureAppImage({ root });
    assert.notEqual(changed.ref, appRef);
    assert.equal(changed.built, true);
    await docker().getImage(changed.ref).remove({ force: true });
  },
);
