// The worker's Prometheus metrics (contract §3), registered on the kit's registry next to its request
// metrics. Gauges reflect current state; counters only go up.

import client from 'prom-client';
import type { Service } from '../shared/http.ts';

export interface WorkerMetrics {
  tokens: client.Counter<string>;
  jobs: client.Counter<'outcome'>;
  duration: client.Histogram<string>;
  slotsBusy: client.Gauge<string>;
  /** High-water mark of concurrent jobs since start: proves no worker ever ran more than its slots. */
  slotsBusyMax: client.Gauge<string>;
}

export type JobOutcome = 'completed' | 'cancelled' | 'failed';

export function createWorkerMetrics(service: Service, slotsTotal: number): WorkerMetrics {
  const jobs = service.counter('jobs_total', 'Inference jobs by outcome', ['outcome']);
  for (const outcome of ['completed', 'cancelled', 'failed'] as const) jobs.inc({ outcome }, 0);
  service.gauge('slots_total', 'Concurrent inference slots (MOCK_SLOTS)').set(slotsTotal);
  const slotsBusy = service.gauge('slots_busy', 'Inference slots in use now');
  const slotsBusyMax = service.gauge('slots_busy_max', 'Most slots ever in use at the same time since start');
  slotsBusy.set(0);
  slotsBusyMax.set(0);
  // Not prefixed: the conventional process metric name, read at scrape time.
  new client.Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes',
    registers: [service.registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  return {
    tokens: service.counter('tokens_generated_total', 'Tokens generated'),
    jobs,
    duration: service.histogram(
      'inference_duration_seconds',
      'Inference job duration, request to end of stream',
      [],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    ),
    slotsBusy,
    slotsBusyMax,
  };
}
