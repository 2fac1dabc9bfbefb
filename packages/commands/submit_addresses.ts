// Header address text made safe for nodemailer's addressparser the way
// Postfix's tok822 parser reads it: CR and LF are white space (a bare CR
// is no line end), and ':' starts a group only when a ';' closes it.
// Used by parseAddressList (submit_message.ts) for sendmail -t and for
// recipients on the command line.

// Postfix's tok822_parse works from right to left and takes ':' for the
// start of a group only once it has seen a ';'. An unclosed ':' joins the
// word before it to the address after it, so "u@x.example Bcc: e@x.example"
// is u@x.example and "Bcc:e"@x.example: the To: address stays, and the
// smuggled Bcc: gives no recipient e@x.example.
export function ungroupColons(text: string): string {
  let out = text.replace(/[\r\n]/g, ' ');
  const colons = unclosedColons(out);
  for (let i = colons.length - 1; i >= 0; i--) out = joinAt(out, colons[i]);
  return out;
}

// Offsets of ':' outside quoted strings, comments and <...> that no ';'
// follows.
function unclosedColons(text: string): number[] {
  const colons: number[] = [];
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (quoted) quoted = ch !== '"';
    else if (ch === '"') quoted = true;
    else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) depth--;
    else if (depth > 0) continue;
    else if (ch === ';') colons.length = 0;
    else if (ch === ':' && !inAngle(text, i)) colons.push(i);
  }
  return colons;
}

// A ':' inside <@a,@b:u@d> is a source route, not a group.
function inAngle(text: string, at: number): boolean {
  return text.lastIndexOf('<', at) > text.lastIndexOf('>', at);
}

const WORD_BEFORE = /([^\s,:;<>()"@\\]+)\s*$/;
const LOCAL_AFTER = /^\s*([^\s,:;<>()"@\\]+)@/;

// "W: L@D" becomes ', "W:L"@D'; any other unclosed ':' a ','.
function joinAt(text: string, at: number): string {
  const before = WORD_BEFORE.exec(text.slice(0, at));
  const after = LOCAL_AFTER.exec(text.slice(at + 1));
  if (!before || !after) return `${text.slice(0, at)},${text.slice(at + 1)}`;
  const start = at - before[0].length;
  const end = at + 1 + after[0].length - 1; // keep the '@'
  const local = `"${before[1]}:${after[1]}"`;
  return `${text.slice(0, start)}, ${local}${text.slice(end)}`;
}
