// Just enough MIME structure for content checks: which body lines are
// headers of a multipart part or of an attached message/rfc822, and
// which are body, from Content-Type boundaries (RFC 2046 section 5.1.1).
// Used by cleanup_message.ts while checks run. Limits: no decoding, no
// Content-Transfer-Encoding checks; a boundary is taken as soon as seen.

export const MIME_CLASS = {
  PRIMARY: 'primary',
  MULTIPART: 'multipart',
  NESTED: 'nested',
} as const;
export type MimeClass = (typeof MIME_CLASS)[keyof typeof MIME_CLASS];

const MIME_STATE = {
  BODY: 'body',
  HEADERS: 'headers',
} as const;
type MimeState = (typeof MIME_STATE)[keyof typeof MIME_STATE];

// Postfix's mime_state also stops nesting somewhere; so do we.
const BOUNDARY_DEPTH_MAX = 20;

interface ContentType {
  multipart: boolean;
  message: boolean;
  boundary?: string;
}

export function parseContentType(value: string): ContentType {
  const type = value.trim().toLowerCase();
  const boundary = /(?:^|;)\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(
    value,
  );
  return {
    multipart: type.startsWith('multipart/'),
    message: /^message\/(rfc822|global)\b/.test(type),
    boundary: boundary ? (boundary[1] ?? boundary[2]) : undefined,
  };
}

export class MimeTracker {
  #boundaries: string[] = [];
  #state: MimeState = MIME_STATE.BODY;
  #class: MimeClass = MIME_CLASS.PRIMARY;
  #type: ContentType = { multipart: false, message: false };

  get inHeaders(): boolean {
    return this.#state === MIME_STATE.HEADERS;
  }

  get headerClass(): MimeClass {
    return this.#class;
  }

  // A Content-Type: of the header block being read.
  noteContentType(value: string): void {
    this.#type = parseContentType(value);
  }

  // The end of a header block (primary, part or attached message).
  endHeaders(): void {
    const type = this.#type;
    this.#type = { multipart: false, message: false };
    this.#state = MIME_STATE.BODY;
    if (type.message) return this.#enter(MIME_CLASS.NESTED);
    if (!type.multipart || !type.boundary) return;
    if (this.#boundaries.length < BOUNDARY_DEPTH_MAX)
      this.#boundaries.push(type.boundary);
  }

  // true when the line is a boundary (and so no body text).
  bodyLine(line: string): boolean {
    if (!line.startsWith('--') || this.#boundaries.length === 0) return false;
    for (let i = this.#boundaries.length - 1; i >= 0; i--) {
      const b = `--${this.#boundaries[i]}`;
      if (!line.startsWith(b)) continue;
      const rest = line.slice(b.length);
      if (rest.startsWith('--')) {
        this.#boundaries.length = i;
        return true;
      }
      if (rest.trim() !== '') continue;
      this.#boundaries.length = i + 1;
      this.#enter(MIME_CLASS.MULTIPART);
      return true;
    }
    return false;
  }

  #enter(klass: MimeClass): void {
    this.#state = MIME_STATE.HEADERS;
    this.#class = klass;
  }
}
