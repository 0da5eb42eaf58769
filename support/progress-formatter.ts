// A run is never silent while it runs. This cucumber formatter (listed in cucumber.mjs) runs in the
// coordinator, so with --parallel N it sees the envelopes of every worker. It writes to stderr, never to
// stdout, so the verdict lines the harness plugin prints last on stdout stay clean for whoever reads them:
//  - on a terminal: one live line rewritten in place (done/total, passed/failed/skipped, elapsed, time
//    left), with failures and retries printed above it the moment they happen;
//  - elsewhere (CI, a pipe): one line per finished scenario, a failure's file:line and first error line,
//    and a status line after 30 s without output.
// The counting and the wording live in lib/report/progress.ts (unit-tested); this file only does the I/O.
// Its own stream (reports/progress.log, see cucumber.mjs) gets the per-scenario lines in either case.
// It is also picked up by the support glob (support/**/*.ts), which is harmless: it only defines a class.

import { Formatter, type IFormatterOptions } from '@cucumber/cucumber';
import {
  RunProgress,
  finalLine,
  liveLine,
  needsAttention,
  scenarioLines,
  statusLine,
  type ProgressEnvelope,
} from '../lib/report/progress.ts';

const QUIET_MS = 30_000;
const CLEAR = '\r\x1b[K';

/** `--parallel N` / `--parallel=N` on the cucumber command line, when given. */
function parallelFromArgv(argv: readonly string[]): number | undefined {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--parallel(?:=(\d+))?$/.exec(argv[i]!);
    if (!m) continue;
    const n = Number(m[1] ?? argv[i + 1]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

export default class ProgressFormatter extends Formatter {
  static override readonly documentation =
    'rbee: live progress on a terminal, one line per scenario elsewhere, on stderr';

  private readonly out: NodeJS.WriteStream = process.stderr;
  private readonly tty = process.stderr.isTTY === true;
  private readonly progress: RunProgress;
  private timer: NodeJS.Timeout | undefined;
  /** The live line on screen, if any. */
  private live: string | undefined;
  private announced = false;
  private ended = false;
  private lastOutput = Date.now();

  constructor(options: IFormatterOptions) {
    super(options);
    const parallel = parallelFromArgv(process.argv);
    this.progress = new RunProgress(parallel ? { parallel } : {});
    options.eventBroadcaster.on('envelope', (e: ProgressEnvelope) => this.onEnvelope(e));
    process.once('exit', () => this.clearLive());
  }

  private onEnvelope(e: ProgressEnvelope): void {
    const finished = this.progress.handle(e);
    if (e.testRunStarted) this.startTimer();
    if (e.testCaseStarted) this.announce();
    if (finished) {
      const lines = scenarioLines(finished, this.progress.snapshot(Date.now()));
      this.log(lines.map((l) => l + '\n').join(''));
      if (!this.tty || needsAttention(finished)) this.print(lines);
    }
    if (this.tty && (e.testCaseStarted || finished)) this.drawLive();
    if (e.testRunFinished) this.end();
  }

  /**
   * The first line, once the test cases are known: at the first scenario's start, or at the first tick
   * if the workers are slow to start (cucumber sends every test case right after testRunStarted).
   */
  private announce(): void {
    if (this.announced || this.ended) return;
    this.announced = true;
    const s = this.progress.snapshot(Date.now());
    const line = `progress: ${s.total} scenario(s), up to ${s.parallel} at a time`;
    this.log(line + '\n');
    if (!this.tty) this.print([line]);
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => {
        this.announce();
        if (this.tty) this.drawLive();
        else if (this.announced && Date.now() - this.lastOutput >= QUIET_MS)
          this.print([statusLine(this.progress.snapshot(Date.now()))]);
      },
      this.tty ? 1000 : 5000,
    );
    this.timer.unref();
  }

  /** Permanent lines: on a terminal they go above the live line, which is then drawn again. */
  private print(lines: string[]): void {
    this.clearLive();
    this.out.write(lines.map((l) => l + '\n').join(''));
    this.lastOutput = Date.now();
    if (this.tty) this.drawLive();
  }

  private drawLive(): void {
    if (!this.tty || !this.announced) return;
    const line = liveLine(this.progress.snapshot(Date.now()), this.out.columns);
    if (this.live === line) return;
    this.out.write(CLEAR + line);
    this.live = line;
  }

  private clearLive(): void {
    if (this.live === undefined) return;
    this.out.write(CLEAR);
    this.live = undefined;
  }

  private end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLive();
    if (this.announced) {
      const line = finalLine(this.progress.snapshot(Date.now())) + '\n';
      this.out.write(line);
      this.log(line);
    }
    this.ended = true;
    this.announced = false; // nothing is drawn after the end
  }

  override async finished(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.clearLive();
    await super.finished();
  }
}
