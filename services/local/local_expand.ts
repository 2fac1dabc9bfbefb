// $name expansion for forward_path, luser_relay and mailbox_command:
// $name, ${name}, $(name), ${name?text} (text when name is set),
// ${name:text} (text when not), $$. Values pass a character filter, as
// Postfix's forward_expansion_filter, so a user cannot inject syntax.

export type ExpandVars = Record<string, string>;

export interface Expansion {
  text: string;
  undefinedUsed: boolean; // a plain $name had no value
}

// Postfix's default forward_expansion_filter characters.
const SAFE = /[^0-9A-Za-z!@%\-_=+:,./]/g;

const TOKEN = /\$(\$|[A-Za-z_][A-Za-z0-9_]*|\{[^}]*\}|\([^)]*\))/g;

export function localExpand(template: string, vars: ExpandVars): Expansion {
  let undefinedUsed = false;
  const text = template.replace(TOKEN, (_all, body: string) => {
    if (body === '$') return '$';
    const inner = /^[{(]/.test(body) ? body.slice(1, -1) : body;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:([?:])(.*))?$/s.exec(inner);
    if (!m) return '';
    const value = (vars[m[1].toLowerCase()] ?? '').replace(SAFE, '_');
    // XXX the text of ${name?text} and ${name:text} is used as written,
    // without expanding the $names inside it as Postfix does.
    if (m[2] === '?') return value ? m[3] : '';
    if (m[2] === ':') return value ? '' : m[3];
    if (!value) undefinedUsed = true;
    return value;
  });
  return { text, undefinedUsed };
}
