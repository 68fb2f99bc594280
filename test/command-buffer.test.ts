// CommandBuffer: a command started by arguments encoded once is the same RESP as the whole command.
import { describe, expect, it } from 'vitest';
import { CommandBuffer, type BufferedArg } from '../src/resp/command-buffer.js';

function encoded(write: (buffer: CommandBuffer) => void): string {
  const buffer = new CommandBuffer(16);
  write(buffer);
  return Buffer.from(buffer.take()).toString('latin1');
}

describe('CommandBuffer.commandAfter', () => {
  it('writes the encoded head, then the rest, as command() writes them all', () => {
    const head: BufferedArg[] = ['XADD', 'stréam', 'MAXLEN', '~', 1000, '*', 'id'];
    const rests: BufferedArg[][] = [['a-1-0', Buffer.from('event'), Buffer.from('{"v":1}')], [], ['x'.repeat(70_000)]];
    const encodedHead = CommandBuffer.encodeArgs(head);
    for (const rest of rests) {
      expect(encoded((b) => b.commandAfter(encodedHead, rest))).toBe(encoded((b) => b.command([...head, ...rest])));
    }
    expect(encoded((b) => b.commandAfter(CommandBuffer.encodeArgs(['PING']), []))).toBe('*1\r\n$4\r\nPING\r\n');
  });
});
