import type { ExecuteResult, RuntimeInfo } from '@runyard/runtime-registry';

/**
 * Runtime info as MCP tools return it: snake_case, `trust` always present, and when the
 * notebook is blocked a `next_action` naming the exact tool call that unblocks it.
 */
export function runtimeInfoForMcp(info: RuntimeInfo) {
  const result: Record<string, unknown> = {
    notebook_id: info.notebookId,
    path: info.path,
    runtime: info.runtime,
    lifecycle: info.lifecycle,
    kernel_status: info.kernelStatus,
    env_source: info.envSource,
    env_hash: info.envHash,
    trust: {
      status: info.trust.status,
      needs_approval: info.trust.needsApproval,
      untrusted: info.trust.untrusted,
      warnings: info.trust.warnings,
      fingerprint: info.trust.fingerprint,
    },
  };
  if (info.nextAction) {
    result.next_action = {
      kind: info.nextAction.kind,
      message: info.nextAction.message,
      tool: info.nextAction.mcp.tool,
      arguments: info.nextAction.mcp.arguments,
      ...(info.nextAction.untrusted ? { untrusted: info.nextAction.untrusted } : {}),
    };
  }
  if (info.error) result.error = info.error;
  return result;
}

export function executeResultForMcp(result: ExecuteResult) {
  return {
    status: result.status,
    execution_count: result.executionCount,
    outputs: result.outputs,
  };
}

/** Plain text of the outputs, for clients that only read `content`. */
export function outputsAsText(result: ExecuteResult): string {
  const parts: string[] = [];
  for (const output of result.outputs) {
    if (output.output_type === 'stream') parts.push(output.text);
    else if (output.output_type === 'error')
      parts.push(`${output.ename}: ${output.evalue}\n${output.traceback.join('\n')}`);
    else {
      const text = output.data['text/plain'];
      if (typeof text === 'string') parts.push(text);
      else if (Array.isArray(text)) parts.push(text.join(''));
    }
  }
  return parts.join('');
}
