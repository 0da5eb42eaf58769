// Writes docs/contract.md from lib/contract/ (npm run contract:doc); `--check` exits 1 when the page is stale.
import fs from 'node:fs';
import { contractDocument } from '../lib/contract/document.ts';

const file = new URL('../docs/contract.md', import.meta.url);
const text = contractDocument();
if (process.argv.includes('--check')) {
  const now = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (now !== text) {
    console.error('docs/contract.md is stale: run npm run contract:doc');
    process.exit(1);
  }
} else {
  fs.mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
  fs.writeFileSync(file, text);
  console.log('wrote docs/contract.md');
}
