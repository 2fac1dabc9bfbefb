// Queue IDs in Postfix's two forms: short (five hex digits of the
// microsecond clock, then the inode number in hex) and long (base-52
// seconds and microseconds, "z", then the inode in base 51). Used by
// mail_queue.ts to name files and by every command that takes an ID.

// Postfix's long-ID alphabet: digits and consonants only, so that an ID
// never spells a word; the inode part leaves out the last one, "z", which
// therefore can only be the separator.
const LONG_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz';
const LONG_BASE = 52;
const INODE_BASE = 51;
const LONG_SEC_PAD = 6;
const LONG_USEC_PAD = 4;
const LONG_SEPARATOR = 'z';
const SHORT_USEC_PAD = 5;

const SHORT_ID_RE = /^[0-9A-F]{6,}$/;
// The time part is base 52 and may hold a "z" itself; the inode part
// never does, so the separator is the last "z".
const LONG_ID_RE =
  /^[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+$/;

export interface QueueIdParts {
  long: boolean;
  // Seconds are only in long IDs.
  seconds: number | undefined;
  usec: number;
  inode: bigint;
}

function encodeBase(value: bigint, base: number, pad: number): string {
  const big = BigInt(base);
  let out = '';
  do {
    out = LONG_ALPHABET[Number(value % big)] + out;
    value /= big;
  } while (value > 0n);
  return out.padStart(pad, '0');
}

function decodeBase(text: string, base: number): bigint {
  let value = 0n;
  for (const ch of text) {
    const digit = LONG_ALPHABET.indexOf(ch);
    if (digit < 0 || digit >= base)
      throw new RangeError(`decodeBase: bad digit: ${ch}`);
    value = value * BigInt(base) + BigInt(digit);
  }
  return value;
}

export function shortQueueId(usec: number, inode: number | bigint): string {
  const hexUsec = usec.toString(16).toUpperCase().padStart(SHORT_USEC_PAD, '0');
  return hexUsec + BigInt(inode).toString(16).toUpperCase();
}

export function longQueueId(
  seconds: number,
  usec: number,
  inode: number | bigint,
): string {
  return (
    encodeBase(BigInt(seconds), LONG_BASE, LONG_SEC_PAD) +
    encodeBase(BigInt(usec), LONG_BASE, LONG_USEC_PAD) +
    LONG_SEPARATOR +
    encodeBase(BigInt(inode), INODE_BASE, 0)
  );
}

export function isShortQueueId(id: string): boolean {
  return SHORT_ID_RE.test(id);
}

export function isLongQueueId(id: string): boolean {
  return LONG_ID_RE.test(id);
}

// Postfix's commands accept either form whatever enable_long_queue_ids
// says, since files of both kinds can be in one queue after a change.
export function isQueueId(id: string): boolean {
  return isShortQueueId(id) || isLongQueueId(id);
}

export function parseQueueId(id: string): QueueIdParts | null {
  if (isShortQueueId(id)) {
    return {
      long: false,
      seconds: undefined,
      usec: parseInt(id.slice(0, SHORT_USEC_PAD), 16),
      inode: BigInt('0x' + id.slice(SHORT_USEC_PAD)),
    };
  }
  if (!isLongQueueId(id)) return null;
  const sep = id.lastIndexOf(LONG_SEPARATOR);
  const secEnd = sep - LONG_USEC_PAD;
  return {
    long: true,
    seconds: Number(decodeBase(id.slice(0, secEnd), LONG_BASE)),
    usec: Number(decodeBase(id.slice(secEnd, sep), LONG_BASE)),
    inode: decodeBase(id.slice(sep + 1), INODE_BASE),
  };
}

// The characters a hashed queue directory is chosen by: a short ID
// itself, or for a long ID its microseconds as five hex digits, so that
// both forms spread over the same sixteen subdirectories.
export function queueIdHashKey(id: string): string {
  if (!isLongQueueId(id)) return id;
  const parts = parseQueueId(id);
  if (!parts) return id;
  return parts.usec.toString(16).toUpperCase().padStart(SHORT_USEC_PAD, '0');
}
