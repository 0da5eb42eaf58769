// JSON-lines logger shared by every reference service (contract §0 "Logs").
// One object per line on stdout; the harness reads these lines to build timelines and to find events
// such as `worker.crashed`. Secrets are never passed in here.

export type LogFields = {
  correlation_id?: string;
  job_id?: string;
  worker_id?: string;
  node_name?: string;
  event?: string;
  [key: string]: unknown;
};

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

// A service whose log reader went away must keep serving: a worker keeps running when the hive that
// started it (and reads its stdout pipe) is killed, and the restarted hive adopts it (INT-013). Without a
// listener, EPIPE on stdout is an uncaught exception that would kill the process on its next log line.
let stdoutGuarded = false;
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}

export function createLogger(service: string, base: LogFields = {}): Logger {
  guardStdout();
  const json = (process.env.RBEE_LOG_FORMAT ?? 'json') === 'json';
  const write = (level: string, msg: string, fields: LogFields = {}) => {
    const record = { ts: new Date().toISOString(), level, service, msg, ...base, ...fields };
    if (json) {
      process.stdout.write(JSON.stringify(record) + '\n');
    } else {
      const extra = Object.entries({ ...base, ...fields })
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      process.stdout.write(`${record.ts} ${level.toUpperCase()} [${service}] ${msg} ${extra}\n`);
    }
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    debug: (m, f) => {
      if (process.env.RBEE_LOG_LEVEL === 'debug') write('debug', m, f);
    },
    child: (f) => createLogger(service, { ...base, ...f }),
  };
}
