// The model hub's HTTP surface (contract §4): a stand-in for a public model registry, with the counters
// and fault knobs the harness needs to test provisioning (shared downloads, resumes, corrupt files,
// transfers cut mid-way). Built as a function so tests can run it in-process.

import { setTimeout as sleep } from 'node:timers/promises';
import { Service, HttpError, type Ctx } from '../shared/http.ts';
import type { Logger } from '../shared/log.ts';
import { RangeChecker, requireShape } from '../shared/validate.ts';
import { Catalog, downloadPath } from './catalog.ts';
import { parseRange } from './range.ts';
import { corruptCopy, sendBody } from './transfer.ts';

export interface HubOptions {
  catalog: Catalog;
  /** Per-download bandwidth limit in bytes/s; 0 = unthrottled. */
  bandwidthBps: number;
  log: Logger;
}

export interface Fault {
  /** Destroy the connection after this many body bytes. */
  fail_after_bytes?: number;
  /** Serve bytes with some flipped, so the sha256 does not match. */
  corrupt?: boolean;
  /** Wait this long before answering. */
  delay_ms?: number;
  /** Apply to this many more requests, then drop the fault; unset = until DELETE /_faults. */
  times?: number;
}

export interface HubStats {
  requests: Record<string, number>;
  bytes_served: Record<string, number>;
}

export interface Hub {
  service: Service;
  stats: HubStats;
  faults: Map<string, Fault>;
}

export function createHub(o: HubOptions): Hub {
  const { catalog, log } = o;
  // The hub stands in for a public registry: no token, on purpose.
  const service = new Service({ service: 'hub', metricPrefix: 'rbee_hub_', log });
  const stats: HubStats = { requests: {}, bytes_served: {} };
  const faults = new Map<string, Fault>();

  service.route('GET', '/health', () => ({ status: 'ok' }), { public: true });

  service.route('GET', '/api/models', () => ({ models: catalog.list() }), { public: true });

  const serveFile = async (ctx: Ctx) => {
    const { org = '', repo = '', file = '' } = ctx.params;
    const spec = catalog.byFile(file);
    if (!spec || downloadPath(spec) !== `/${org}/${repo}/resolve/main/${file}`) {
      throw new HttpError(404, 'MODEL_NOT_FOUND', `no file ${org}/${repo}/${file} on this hub`);
    }
    const isGet = ctx.method === 'GET';
    if (isGet) stats.requests[file] = (stats.requests[file] ?? 0) + 1;
    const fault = isGet ? takeFault(file) : undefined;
    if (fault?.delay_ms) await sleep(fault.delay_ms);

    let body = catalog.bytes(spec);
    const size = body.length;
    const range = parseRange(header(ctx.req.headers.range), size);
    if (range.kind === 'unsatisfiable') {
      throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', range.reason, {}, { 'content-range': `bytes */${size}` });
    }
    if (fault?.corrupt) body = corruptCopy(body);
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      etag: `"${catalog.entry(spec).sha256}"`,
    };
    let status = 200;
    if (range.kind === 'partial') {
      status = 206;
      headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
      body = body.subarray(range.start, range.end + 1);
    }
    headers['content-length'] = String(body.length);
    ctx.res.writeHead(status, headers);
    if (!isGet) {
      ctx.res.end();
      return undefined;
    }
    const outcome = await sendBody(ctx.res, body, {
      bandwidthBps: o.bandwidthBps,
      failAfterBytes: fault?.fail_after_bytes,
      onBytes: (n) => (stats.bytes_served[file] = (stats.bytes_served[file] ?? 0) + n),
    });
    ctx.log.info('download served', {
      event: 'download.served',
      file,
      model_ref: spec.model_ref,
      status,
      range: range.kind === 'partial' ? `${range.start}-${range.end}` : undefined,
      outcome,
      fault: fault && Object.keys(fault).length > 0 ? fault : undefined,
    });
    return undefined;
  };
  service.route('GET', '/{org}/{repo}/resolve/main/{file}', serveFile, { public: true });
  service.route('HEAD', '/{org}/{repo}/resolve/main/{file}', serveFile, { public: true });

  service.route('GET', '/_stats', () => stats, { public: true });
  service.route(
    'POST',
    '/_stats/reset',
    () => {
      stats.requests = {};
      stats.bytes_served = {};
      return stats;
    },
    { public: true },
  );

  service.route('GET', '/_faults', () => ({ faults: Object.fromEntries(faults) }), { public: true });
  service.route(
    'POST',
    '/_faults',
    async (ctx) => {
      const b = requireShape<{ file: string } & Fault>(await ctx.json(), {
        file: { type: 'string', required: true },
        fail_after_bytes: { type: 'integer' },
        corrupt: { type: 'boolean' },
        delay_ms: { type: 'integer' },
        times: { type: 'integer' },
      });
      new RangeChecker()
        .check(catalog.byFile(b.file) !== undefined, 'file', 'known_file', `no file ${b.file} in the catalogue`, b.file)
        .check(
          b.fail_after_bytes === undefined || b.fail_after_bytes >= 0,
          'fail_after_bytes',
          'minimum 0',
          'must be >= 0',
          b.fail_after_bytes,
        )
        .check(
          b.delay_ms === undefined || (b.delay_ms >= 0 && b.delay_ms <= 600_000),
          'delay_ms',
          'range 0..600000',
          'must be 0..600000',
          b.delay_ms,
        )
        .check(b.times === undefined || b.times >= 1, 'times', 'minimum 1', 'must be >= 1', b.times)
        .check(
          b.fail_after_bytes !== undefined || b.corrupt !== undefined || b.delay_ms !== undefined,
          'fault',
          'one_of',
          'give fail_after_bytes, corrupt or delay_ms',
        )
        .throwIfAny();
      const f: Fault = { ...(faults.get(b.file) ?? {}) };
      if (b.fail_after_bytes !== undefined) f.fail_after_bytes = b.fail_after_bytes;
      if (b.corrupt !== undefined) f.corrupt = b.corrupt;
      if (b.delay_ms !== undefined) f.delay_ms = b.delay_ms;
      if (b.times !== undefined) f.times = b.times;
      faults.set(b.file, f);
      ctx.log.info('fault set', { event: 'hub.fault_set', file: b.file, fault: f });
      return { faults: Object.fromEntries(faults) };
    },
    { public: true },
  );
  service.route(
    'DELETE',
    '/_faults',
    (ctx) => {
      const file = ctx.query.get('file');
      if (file) faults.delete(file);
      else faults.clear();
      ctx.log.info('faults cleared', { event: 'hub.faults_cleared', file: file ?? undefined });
      return { faults: Object.fromEntries(faults) };
    },
    { public: true },
  );

  /** The fault for this request, counting down `times` (a copy, so later edits do not affect it). */
  function takeFault(file: string): Fault | undefined {
    const f = faults.get(file);
    if (!f) return undefined;
    if (f.times !== undefined) {
      f.times -= 1;
      if (f.times <= 0) faults.delete(file);
    }
    return { ...f };
  }

  return { service, stats, faults };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
