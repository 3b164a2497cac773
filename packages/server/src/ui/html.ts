/**
 * A tiny HTML templating helper: the `html` tagged template escapes every interpolated value unless
 * it is already `SafeHtml` (the result of another `html` template). Arrays are rendered item by
 * item, `undefined`, `null` and `false` render nothing. Escaping covers text and quoted attribute
 * values (OWASP XSS Prevention Cheat Sheet, rules 1 and 2); every attribute in the templates is quoted.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string);
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += render(values[i] as Value) + (strings[i + 1] as string);
  return new SafeHtml(out);
}

/** Trusted markup (constants only; never user input). */
export const raw = (value: string) => new SafeHtml(value);
