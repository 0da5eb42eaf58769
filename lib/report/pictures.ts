// Which pictures a finished scenario gets: its fault timeline whenever a fault was injected (passed or
// failed: seeing when each fault was applied and healed is useful either way), and a latency histogram
// for every measurement name recorded often enough to have a distribution (a load scenario that calls
// `this.measure('request latency', ms)` per request gets one without further code).

import type { FaultRecord } from '../faults/timeline.ts';
import { faultTimelineSvg, latencyHistogramSvg } from './svg.ts';

export const SVG = 'image/svg+xml';
/** Fewer samples than this make a table, not a histogram. */
export const HISTOGRAM_MIN_SAMPLES = 20;

export interface Picture {
  fileName: string;
  svg: string;
}

export function scenarioPictures(
  measurements: ReadonlyArray<{ name: string; value: number; unit: string }>,
  faults: readonly FaultRecord[],
  window: { start: number; end: number },
): Picture[] {
  const out: Picture[] = [];
  if (faults.length) out.push({ fileName: 'fault-timeline.svg', svg: faultTimelineSvg(faults, window) });
  const series = new Map<string, number[]>();
  for (const m of measurements) if (m.unit === 'ms') series.set(m.name, [...(series.get(m.name) ?? []), m.value]);
  for (const [name, values] of series) {
    if (values.length < HISTOGRAM_MIN_SAMPLES) continue;
    out.push({
      fileName: `latency-${name
        .replace(/[^A-Za-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .toLowerCase()}.svg`,
      svg: latencyHistogramSvg(values, name),
    });
  }
  return out;
}
