// Which scenarios may run beside which when cucumber runs several at once (--parallel N). Every scenario
// has its own stack, so overlap is the rule; a scenario whose figures the others' load would distort
// (throughput and soak bounds) is tagged @serial and runs alone.

import { setParallelCanAssign } from '@cucumber/cucumber';

const SERIAL_TAG = '@serial';
const isSerial = (p: { tags: readonly { name: string }[] }) => p.tags.some((t) => t.name === SERIAL_TAG);

setParallelCanAssign((candidate, inProgress) => {
  if (inProgress.some(isSerial)) return false;
  return isSerial(candidate) ? inProgress.length === 0 : true;
});
