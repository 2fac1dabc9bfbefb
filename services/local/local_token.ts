// The right-hand side of an alias, a .forward or an :include: file: split
// it into destinations and deliver each one (|command, /file/name,
// :include:/file, or an address). Used by local_alias, local_forward and
// local_include. Known limit: RFC 822 comments in a list are not parsed.

import { deliverInclude } from './local_include';
import {
  deliverAddressToken,
  deliverCommandToken,
  deliverFileToken,
} from './local_recipient';
import type { DeliveryAttr, LocalContext } from './local_state';

// One destination per comma or line, outside double quotes; quotes come
// off.
export function splitDestinations(text: string): string[] {
  const out: string[] = [];
  let item = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && quoted && i + 1 < text.length) item += text[++i];
    else if (ch === '"') quoted = !quoted;
    else if ((ch === ',' || ch === '\n') && !quoted) {
      out.push(item);
      item = '';
    } else item += ch;
  }
  out.push(item);
  return out.map((w) => w.trim()).filter((w) => w && !w.startsWith('#'));
}

export type Destination =
  | { kind: 'command'; command: string }
  | { kind: 'file'; path: string }
  | { kind: 'include'; path: string }
  | { kind: 'address'; address: string };

export function classify(item: string): Destination {
  if (item.startsWith('|')) return { kind: 'command', command: item.slice(1) };
  if (item.toLowerCase().startsWith(':include:'))
    return { kind: 'include', path: item.slice(9).trim() };
  if (item.startsWith('/')) return { kind: 'file', path: item };
  return { kind: 'address', address: item.replace(/^<(.*)>$/, '$1') };
}

// Deliver to every destination in text; the count of destinations.
export async function deliverTokens(
  ctx: LocalContext,
  attr: DeliveryAttr,
  text: string,
): Promise<number> {
  const items = splitDestinations(text);
  for (const item of items) {
    const d = classify(item);
    if (d.kind === 'command') await deliverCommandToken(ctx, attr, d.command);
    else if (d.kind === 'file') await deliverFileToken(ctx, attr, d.path);
    else if (d.kind === 'include') await deliverInclude(ctx, attr, d.path);
    else await deliverAddressToken(ctx, attr, d.address);
  }
  return items.length;
}
