// Imported first by the submission commands (sendmail, postdrop,
// postqueue), so that Intl.DateTimeFormat is lazy while their modules
// load; startCommand, at the end of each entry file, puts the real one
// back and runs the command.

const RealDateTimeFormat = Intl.DateTimeFormat;
type FormatArgs = ConstructorParameters<typeof Intl.DateTimeFormat>;

// XXX packages/util/mail_date builds its formatter when loaded, and ICU
// costs some 20 ms of a run that may never print a date. So the global
// is swapped while modules load; once mail_date builds its formatter on
// first use, this can go.
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

// Called at the end of an entry file, when its imports have loaded.
export function startCommand(main: () => void): void {
  setDateTimeFormat(RealDateTimeFormat);
  main();
}
