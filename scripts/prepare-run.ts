// What a run needs before its first scenario, done once in cucumber's coordinator process by the harness
// plugin (support/harness-plugin.mjs) — for `npx cucumber-js` and the run script alike: the settings checked,
// leftovers of dead runs swept, the runtime chosen, the services' bundles and (docker) images built or found
// cached, and the run's id, profile and runtime put in the environment the parallel workers inherit.
// Throws with one line on any problem; the plugin prints it and exits 2.

import { loadConfig } from '../lib/config.ts';
import { ensureBundles } from '../lib/stack/bundles.ts';
import { selectRuntime, sweepAll } from '../lib/stack/runtimes.ts';

export interface Prepared {
  runtime: string;
  runId: string;
}

export async function prepareRun(o: {
  profile: string;
  scenarios: number;
  say: (line: string) => void;
}): Promise<Prepared> {
  const config = loadConfig();
  const removed = await sweepAll(false);
  if (removed.length) o.say(`swept ${removed.length} leftover(s) of dead runs`);
  const runtime = await selectRuntime(config.runtime);
  const bundles = await ensureBundles();
  o.say(`bundles ${bundles.hash} ${bundles.built ? 'built' : 'cached'} in ${(bundles.ms / 1000).toFixed(1)} s`);
  if (runtime.name === 'docker') {
    const { requireEngine } = await import('../lib/docker/engine.ts');
    const { ensureAppImage, ensureBaseImage } = await import('../lib/docker/images.ts');
    const engine = await requireEngine();
    const force = process.env.RBEE_BUILD_IMAGES === '1';
    const base = await ensureBaseImage({ force });
    o.say(
      `base ${base.ref} ${base.built ? 'built' : 'cached'} in ${(base.ms / 1000).toFixed(1)} s (engine ${engine.serverVersion})`,
    );
    const app = await ensureAppImage({ force, base: base.ref });
    o.say(`app  ${app.ref} ${app.built ? 'built' : 'cached'} in ${(app.ms / 1000).toFixed(1)} s`);
  }
  // The workers cucumber starts next inherit these: one run id, one runtime, the profile for the reports.
  process.env.RBEE_RUNTIME = runtime.name;
  process.env.RBEE_RUN_ID = config.runId;
  process.env.RBEE_PROFILE = o.profile;
  o.say(`runtime: ${runtime.name}  run: ${config.runId}  profile: ${o.profile}  scenarios: ${o.scenarios}`);
  return { runtime: runtime.name, runId: config.runId };
}
