import { callApi, serverTarget } from './client.js';
import {
  type CliIo,
  ExitCode,
  parseCommand,
  printHelp,
  printJson,
  println,
  UsageError,
} from './common.js';

export const SKILLS_HELP = `Usage: runyard skills plan|reconcile|status|stop [--json] [--url <server>]

Talks to the running workspace server (default http://<host>:<port> from the configuration,
token from RUNYARD_TOKEN or <data-dir>/token).
  plan       what a pass would change (touches no disk)
  reconcile  run a pass now (refused under the force-off policy)
  status     policy, running, last and next pass, managed inventory
  stop       the kill switch: stop the reconciler now (works under any policy; idempotent)`;

interface Report {
  install: { name: string; scope: string; reason?: string }[];
  update: { name: string; scope: string; reason?: string }[];
  remove: { name: string; scope: string; reason?: string }[];
  unchanged: unknown[];
  errors: { code: string; message: string }[];
}

function printReport(io: CliIo, report: Report, applied: boolean): void {
  for (const [label, items] of [
    ['install', report.install],
    ['update', report.update],
    ['remove', report.remove],
  ] as const)
    for (const item of items)
      println(
        io.stdout,
        `${applied ? '' : 'would '}${label} ${item.scope}/${item.name}${item.reason ? ` (${item.reason})` : ''}`,
      );
  println(io.stdout, `${report.unchanged.length} unchanged`);
  for (const error of report.errors) println(io.stdout, `error: ${error.code}: ${error.message}`);
}

export async function skillsCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals, config } = parseCommand(io, args, {
    json: { type: 'boolean' },
    url: { type: 'string' },
  });
  const [sub, ...extra] = positionals;
  if (values.help || sub === undefined) return printHelp(io, SKILLS_HELP, Boolean(values.help));
  if (extra.length > 0) throw new UsageError(`skills ${sub} takes no arguments`);
  const target = serverTarget(config(), typeof values.url === 'string' ? values.url : undefined);
  switch (sub) {
    case 'plan':
    case 'reconcile': {
      const report = (await callApi(
        target,
        'POST',
        `/api/skills/reconcile?dryRun=${sub === 'plan'}`,
      )) as Report;
      if (values.json) printJson(io, report);
      else printReport(io, report, sub === 'reconcile');
      return report.errors.length > 0 ? ExitCode.failure : ExitCode.ok;
    }
    case 'status': {
      const status = (await callApi(target, 'GET', '/api/skills/reconciler')) as {
        policy: string | null;
        running: boolean;
        stopped: boolean;
        nextPassAt: string | null;
        inventory: { name: string; scope: string }[];
      };
      if (values.json) printJson(io, status);
      else {
        println(io.stdout, `policy:    ${status.policy ?? '(invalid)'}`);
        println(
          io.stdout,
          `state:     ${status.stopped ? 'stopped' : status.running ? 'running' : 'idle'}`,
        );
        println(io.stdout, `next pass: ${status.nextPassAt ?? '-'}`);
        println(
          io.stdout,
          `managed:   ${status.inventory.map((r) => `${r.scope}/${r.name}`).join(', ') || '(none)'}`,
        );
      }
      return ExitCode.ok;
    }
    case 'stop': {
      const result = (await callApi(target, 'POST', '/api/skills/reconciler/stop')) as {
        stopped: true;
        wasRunning: boolean;
      };
      if (values.json) printJson(io, result);
      else
        println(
          io.stdout,
          result.wasRunning ? 'reconciler stopped' : 'reconciler was not running; it stays stopped',
        );
      return ExitCode.ok;
    }
    default:
      throw new UsageError(`unknown skills command: ${sub}`);
  }
}
