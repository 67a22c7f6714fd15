import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger, logFormatFor } from '../../src/observability/logger.js';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { lines, stream };
}

describe('log format', () => {
  it('is readable only for development in a terminal, JSON everywhere else', () => {
    expect(logFormatFor('development', true)).toBe('pretty');
    expect(logFormatFor('development', false)).toBe('json');
    expect(logFormatFor('development', undefined)).toBe('json');
    expect(logFormatFor('production', true)).toBe('json');
    expect(logFormatFor('test', true)).toBe('json');
  });

  it('writes JSON lines by default and readable lines through pino-pretty when chosen', async () => {
    const json = sink();
    createLogger('info', json.stream).info({ requestId: 'r-1' }, 'hello there');
    const pretty = sink();
    const log = createLogger('info', pretty.stream, 'pretty');
    log.info({ requestId: 'r-2', password: 'hunter2' }, 'hello there');
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(JSON.parse(json.lines[0]!)).toMatchObject({ msg: 'hello there', requestId: 'r-1', level: 30 });
    const text = pretty.lines.join('\n');
    expect(text).toMatch(/INFO.*hello there/);
    expect(text).toContain('r-2');
    expect(() => JSON.parse(pretty.lines[0]!)).toThrow();
    // Redaction happens before the prettifier sees the line.
    expect(text).not.toContain('hunter2');
  });
});
