// Dates as Postfix writes them: the header form "Thu,  3 Dec 2026
// 10:08:29 +0000 (UTC)" (day padded with a space, numeric zone, zone
// name) for Date:, Received: and notices, and the English day and month
// names that log lines and mailq use too.

export const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const MONTHS = [
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
];

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function zoneOffset(when: Date): string {
  const minutes = -when.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

// XXX The zone name is what Intl gives ("UTC", "GMT+1"), not always the
// tzdata abbreviation ("CET") that Postfix's strftime %Z prints.
// Building an Intl formatter costs more than the rest of a message's
// cleanup (ICU's start is some 20 ms of a sendmail run that may print no
// date), so it is built on first use and the name is kept for the hour
// it was asked in.
const ZONE_CACHE = { hour: -1, name: 'UTC' };
let zoneFormat: Intl.DateTimeFormat | undefined;

function zoneName(when: Date): string {
  const hour = Math.floor(when.getTime() / 3_600_000);
  if (hour !== ZONE_CACHE.hour) {
    zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const parts = zoneFormat.formatToParts(when);
    ZONE_CACHE.name =
      parts.find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
    ZONE_CACHE.hour = hour;
  }
  return ZONE_CACHE.name;
}

export function mailDate(when: Date): string {
  const day = String(when.getDate()).padStart(2, ' ');
  const time =
    `${two(when.getHours())}:${two(when.getMinutes())}:` +
    `${two(when.getSeconds())}`;
  return (
    `${DAYS[when.getDay()]}, ${day} ${MONTHS[when.getMonth()]} ` +
    `${when.getFullYear()} ${time} ${zoneOffset(when)} (${zoneName(when)})`
  );
}
