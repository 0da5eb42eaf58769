// Build (or confirm cached) the harness images and print what happened, with timings.
//   node --import tsx docker/build-images.ts [--force] [--root DIR]
// Exit 1 with one line when the engine is missing or a build fails.

import { requireEngine } from '../lib/docker/engine.ts';
import { ensureAppImage, ensureBaseImage } from '../lib/docker/images.ts';

const force = process.argv.includes('--force');
const rootAt = process.argv.indexOf('--root');
const root = rootAt > 0 ? process.argv[rootAt + 1] : undefined;
try {
  const engine = await requireEngine();
  const base = await ensureBaseImage({ force });
  console.log(
    `base ${base.ref} ${base.built ? 'built' : 'cached'} in ${(base.ms / 1000).toFixed(1)} s (engine ${engine.serverVersion})`,
  );
  const app = await ensureAppImage({ force, base: base.ref, root });
  console.log(`app  ${app.ref} ${app.built ? 'built' : 'cached'} in ${(app.ms / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`build-images: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
