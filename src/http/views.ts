import { fileURLToPath } from 'node:url';

import nunjucks from 'nunjucks';

/** Works from src/http (tsx) and dist/http (built). */
export const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

export interface Views {
  render(template: string, data: Record<string, unknown>): string;
}

/** Server-rendered pages; autoescape is on, so every value is HTML-escaped unless a template says otherwise (none do). */
export function createViews(dir = viewsDir): Views {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir, { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  return {
    render: (template, data) => env.render(template, data),
  };
}
