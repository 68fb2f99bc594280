// Subject and routing-key templates: `redis.{db}.{class}.{command}` filled from a message's route. A
// template is checked once, when the sink is made, so a typo is an error before anything is published.
import type { MessageRoute } from './sink.js';

const FIELDS = ['db', 'command', 'class', 'partition'] as const;
type Field = typeof FIELDS[number];

/** A compiled template: call it with a route. */
export type RouteTemplate = (route: MessageRoute) => string;

/**
 * Compiles `template`; `{db}`, `{command}`, `{class}` and `{partition}` are replaced. An event without a
 * database fills `{db}` with `all`. `escape` turns a value into what the destination's names allow (NATS
 * subjects: no `.`, `*`, `>` or spaces inside a token).
 */
export function compileTemplate(template: string, escape: (value: string) => string = (v) => v): RouteTemplate {
  const parts: Array<string | Field> = [];
  const pattern = /\{([^{}]*)\}/g;
  let at = 0;
  for (const match of template.matchAll(pattern)) {
    const name = match[1]!;
    if (!(FIELDS as readonly string[]).includes(name)) {
      throw new TypeError(`unknown field {${name}} in the template ${JSON.stringify(template)}: use ${FIELDS.map((f) => `{${f}}`).join(', ')}`);
    }
    parts.push(template.slice(at, match.index), name as Field);
    at = match.index! + match[0].length;
  }
  parts.push(template.slice(at));
  if (/[{}]/.test(parts.filter((_, i) => i % 2 === 0).join(''))) {
    throw new TypeError(`unbalanced brace in the template ${JSON.stringify(template)}`);
  }
  return (route) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      out += i % 2 === 0 ? part : escape(valueOf(route, part as Field));
    }
    return out;
  };
}

function valueOf(route: MessageRoute, field: Field): string {
  switch (field) {
    case 'db': return route.db === null ? 'all' : String(route.db);
    case 'command': return route.command;
    case 'class': return route.class;
    case 'partition': return String(route.partition);
  }
}
