import type { HubEvent } from '../events/hub.js';

/**
 * Human progress on stderr: a spinner for kernel start and bars for environment builds. Only
 * when stderr is a TTY; otherwise every call is a no-op so logs and pipes stay clean.
 */
export interface Progress {
  spin(text: string): void;
  bar(label: string, fraction: number | undefined, detail?: string): void;
  done(text?: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const WIDTH = 24;

export function renderBar(fraction: number): string {
  const clamped = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(clamped * WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(Math.round(clamped * 100)).padStart(3)}%`;
}

export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }): Progress {
  if (stream.isTTY !== true) return { spin() {}, bar() {}, done() {} };
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  let line = '';
  const draw = () => stream.write(`\r\x1b[2K${line}`);
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    spin(text) {
      stopTimer();
      const paint = () => {
        line = `${FRAMES[frame++ % FRAMES.length]} ${text}`;
        draw();
      };
      paint();
      timer = setInterval(paint, 80);
      timer.unref();
    },
    bar(label, fraction, detail) {
      stopTimer();
      line = `${label} ${fraction === undefined ? '' : renderBar(fraction)}${detail ? ` ${detail}` : ''}`;
      draw();
    },
    done(text) {
      stopTimer();
      stream.write(`\r\x1b[2K${text ? `${text}\n` : ''}`);
    },
  };
}

/**
 * Shows the server's work as it happens: an env-build bar per notebook while its environment
 * builds, a spinner while its kernel starts. Returns the unsubscribe function.
 */
export function showRuntimeProgress(
  hub: { subscribe(listener: (event: HubEvent) => void): () => void },
  progress: Progress,
): () => void {
  const names = new Map<string, string>();
  return hub.subscribe((hubEvent) => {
    if (hubEvent.topic === 'skills') return;
    const { event } = hubEvent;
    if (event.type === 'lifecycle') {
      const name = event.info.path ?? event.notebookId;
      names.set(event.notebookId, name);
      const state = event.info.lifecycle;
      if (state === 'launching' || state === 'connecting')
        progress.spin(`starting kernel for ${name}`);
      else if (state === 'idle') progress.done(`kernel ready for ${name}`);
      else if (state === 'awaiting_trust')
        progress.done(`${name} is waiting for dependency approval`);
      else if (state === 'error') {
        // The details say why (pip's error line, the kernel's last stderr line), paths hidden.
        const { reason = 'error', details } = event.info.error ?? {};
        progress.done(`${name}: ${reason}${details ? ` — ${details}` : ''}`);
      }
    } else if (event.type === 'env_progress') {
      const name = names.get(event.notebookId) ?? event.notebookId;
      progress.bar(`building env for ${name}`, event.fraction, event.phase);
    }
  });
}
