// The worker's command line, as rbee's llm-worker-rbee takes it (contract §3). The hive builds this
// command line; a mistake there must fail loudly (one line on stderr, exit 2), never start a half-configured
// worker.

export interface WorkerArgs {
  workerId: string;
  /** Local path of the model file. */
  model: string;
  modelRef: string;
  backend: string;
  device: number;
  /** 0 = any free port (the advertised URL uses the bound one). */
  port: number;
  /** The hive's ready URL, e.g. http://127.0.0.1:9200/v1/workers/ready. */
  callbackUrl: string;
}

export class CliError extends Error {}

const FLAGS = ['worker-id', 'model', 'model-ref', 'backend', 'device', 'port', 'callback-url'] as const;
type Flag = (typeof FLAGS)[number];

/** Parse `--flag value` / `--flag=value`; every flag is required, unknown or repeated flags are errors. */
export function parseWorkerArgs(argv: readonly string[]): WorkerArgs {
  const seen = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new CliError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = m[1] as Flag;
    if (!FLAGS.includes(name)) throw new CliError(`unknown option --${m[1]}`);
    if (seen.has(name)) throw new CliError(`option --${name} given twice`);
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new CliError(`option --${name} needs a value`);
      i++;
    }
    seen.set(name, value);
  }
  const missing = FLAGS.filter((f) => !seen.has(f));
  if (missing.length > 0)
    throw new CliError(
      `missing required option${missing.length > 1 ? 's' : ''} ${missing.map((f) => '--' + f).join(', ')}`,
    );
  const get = (f: Flag) => seen.get(f)!;

  for (const f of ['worker-id', 'model', 'model-ref', 'backend'] as const) {
    if (get(f).trim() === '') throw new CliError(`option --${f} must not be empty`);
  }
  const device = intIn(get('device'), 0, 1024, 'device');
  const port = intIn(get('port'), 0, 65535, 'port');
  let url: URL;
  try {
    url = new URL(get('callback-url'));
  } catch {
    throw new CliError(`option --callback-url is not a URL: ${JSON.stringify(get('callback-url'))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError('option --callback-url must be an http(s) URL');
  return {
    workerId: get('worker-id'),
    model: get('model'),
    modelRef: get('model-ref'),
    backend: get('backend'),
    device,
    port,
    callbackUrl: url.toString(),
  };
}

function intIn(raw: string, min: number, max: number, name: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw new CliError(`option --${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}
