// TypeScript for cucumber-js, as its docs register tsx for ESM: imported first (cucumber.mjs `import`), in
// the coordinator and in every parallel worker, so `npx cucumber-js` needs no NODE_OPTIONS.
import { register } from 'tsx/esm/api';

register();
