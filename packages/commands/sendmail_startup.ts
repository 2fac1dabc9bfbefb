// How the submission commands (sendmail, postdrop, postqueue) start: as
// a plain script, or from the startup snapshot that scripts/
// build_commands.js makes of their bundle. Imported first by each, so
// that Intl.DateTimeFormat is lazy while modules load. Limits: module
// state in a snapshot is the build's; entries refresh what they use.

import { startupSnapshot } from 'node:v8';

const RealDateTimeFormat = Intl.DateTimeFormat;
type FormatArgs = ConstructorParameters<typeof Intl.DateTimeFormat>;

// XXX packages/util/mail_date builds its formatter when loaded: ICU
// costs some 20 ms of a run that may never print a date, and a live ICU
// object cannot go into a snapshot. So the global is swapped while
// modules load; once mail_date builds it on first use, this can go.
class LazyDateTimeFormat {
  #args: FormatArgs;
  #real: Intl.DateTimeFormat | undefined;

  constructor(...args: FormatArgs) {
    this.#args = args;
  }

  #formatter(): Intl.DateTimeFormat {
    this.#real ??= new RealDateTimeFormat(...this.#args);
    return this.#real;
  }

  format(date?: Date | number): string {
    return this.#formatter().format(date);
  }

  formatToParts(date?: Date | number): Intl.DateTimeFormatPart[] {
    return this.#formatter().formatToParts(date);
  }

  resolvedOptions(): Intl.ResolvedDateTimeFormatOptions {
    return this.#formatter().resolvedOptions();
  }
}

function setDateTimeFormat(value: unknown): void {
  (Intl as { DateTimeFormat: unknown }).DateTimeFormat = value;
}

setDateTimeFormat(LazyDateTimeFormat);

// Called at the end of an entry file, when its imports have loaded. In
// a snapshot build, main runs each time node restores the snapshot; its
// argv[1] is then the name the bin shim passes, not a script path.
export function startCommand(main: () => void): void {
  setDateTimeFormat(RealDateTimeFormat);
  if (startupSnapshot.isBuildingSnapshot())
    startupSnapshot.setDeserializeMainFunction(main);
  else main();
}
