// The worker state machine of contract §2. Every state change in the hive goes through canTransition so
// that an out-of-order callback (e.g. a "ready" for a busy worker) is refused instead of silently
// rewriting history.
//
// `unhealthy` is not one of the contract's named states; it is how the hive records "not routed to, will be
// removed if it stays so" (contract §2 Monitoring). It sits beside idle/busy: a worker gets there from
// idle/busy and goes back when its heartbeats resume.

export type WorkerState = 'loading' | 'idle' | 'busy' | 'unhealthy' | 'stopping' | 'crashed';

export const WORKER_STATES: readonly WorkerState[] = ['loading', 'idle', 'busy', 'unhealthy', 'stopping', 'crashed'];

const ARROWS: Record<WorkerState, readonly WorkerState[]> = {
  loading: ['idle', 'stopping', 'crashed'],
  idle: ['busy', 'unhealthy', 'stopping', 'crashed'],
  busy: ['idle', 'unhealthy', 'stopping', 'crashed'],
  // Recovery returns to busy when the job it had is still held (the queen has not released it yet).
  unhealthy: ['idle', 'busy', 'stopping', 'crashed'],
  // A stopping worker is removed once it exited; there is no way back.
  stopping: [],
  // Only a restart (RBEE_RESTART_POLICY=on-crash) leaves `crashed`; otherwise the worker is removed.
  crashed: ['loading'],
};

export function canTransition(from: WorkerState, to: WorkerState): boolean {
  return ARROWS[from].includes(to);
}

/** States a job may be routed to. */
export function isRoutable(state: WorkerState): boolean {
  return state === 'idle';
}
