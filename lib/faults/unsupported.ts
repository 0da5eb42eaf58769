// A fault the current runtime cannot inject. Scenarios that hit it are skipped with this reason —
// never passed, and never failed as if the stack were broken.

export class FaultUnsupported extends Error {
  override name = 'FaultUnsupported';
}
