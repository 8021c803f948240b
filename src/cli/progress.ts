import cliProgress from 'cli-progress';
import type { RunProgress } from '../exports/run-execution.js';
import type { CliIo } from './context.js';

/**
 * Shows a run's progress on stderr: a bar on a terminal (stage, contacts sent, batches, rate,
 * ETA), plain lines otherwise (at most one a second, and at each change of stage).
 */
export function runProgressReporter(io: CliIo): {
  update(progress: RunProgress): void;
  stop(): void;
} {
  if (io.stderrIsTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          '{stage} |{bar}| {planned_text} | {sent} contacts sent | {batches} batches | {rate}/s | ETA {eta_text}',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(progress) {
        const payload = {
          stage: stageLabel(progress).padEnd(25),
          planned_text: plannedText(progress),
          sent: progress.sent,
          batches: progress.batchesSent,
          rate: Math.round(progress.ratePerSecond),
          eta_text: progress.etaSeconds === undefined ? '-' : `${Math.ceil(progress.etaSeconds)}s`,
        };
        if (!started) {
          bar.start(Math.max(progress.members, 1), progress.planned, payload);
          started = true;
        }
        bar.setTotal(Math.max(progress.members, 1));
        bar.update(progress.planned, payload);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let lastStage = '';
  let lastLine = 0;
  return {
    update(progress) {
      const now = Date.now();
      if (progress.stage === lastStage && now - lastLine < 1_000) return;
      lastStage = progress.stage;
      lastLine = now;
      const eta =
        progress.etaSeconds === undefined ? '' : `, ETA ${Math.ceil(progress.etaSeconds)}s`;
      io.stderr(
        `${stageLabel(progress)}: ${plannedText(progress)}, ${progress.sent} contacts sent in ${progress.batchesSent} ${progress.batchesSent === 1 ? 'batch' : 'batches'}` +
          (progress.jobsTotal > 0 ? `, ${progress.jobsDone}/${progress.jobsTotal} jobs done` : '') +
          `, ${Math.round(progress.ratePerSecond)}/s${eta}\n`,
      );
    },
    stop: () => undefined,
  };
}

/** `120/5000 members planned`; a resumed run settling its earlier requests has not counted them. */
function plannedText(progress: RunProgress): string {
  if (progress.stage === 'checking earlier requests') return 'members not counted yet';
  return `${progress.planned}/${progress.members} members planned`;
}

/** The stage, or at the end how the run ended: a failed run does not say "done". */
function stageLabel(progress: RunProgress): string {
  if (progress.stage !== 'done' || progress.status === 'succeeded') return progress.stage;
  return progress.status.replace(/_/g, ' ');
}
