// Build (or confirm cached) the reference services' bundles, once per run before cucumber starts its
// workers (lib/stack/bundles.ts). Exit 1 with one line when esbuild fails.
//   node --import tsx scripts/build-bundles.ts

import { ensureBundles } from '../lib/stack/bundles.ts';

try {
  const b = await ensureBundles();
  console.error(`bundles ${b.hash} ${b.built ? 'built' : 'cached'} in ${(b.ms / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`build-bundles: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
