// /file/name destinations from aliases, .forward and :include: files:
// mbox append with locks, or Maildir when the name ends in '/'. The write
// runs with the rights of whoever owns the expansion, never root's.

import { copyHeaders, privsFor } from './local_attr';
import { deliverMaildir, maildirKey } from './local_maildir';
import { deliverMbox } from './local_mailbox';
import {
  bounced,
  DeliveryFailure,
  type DeliveryAttr,
  type LocalContext,
  type Outcome,
} from './local_state';

export async function deliverFile(
  ctx: LocalContext,
  attr: DeliveryAttr,
  file: string,
): Promise<Outcome> {
  if (!ctx.settings.allowMailToFiles.includes(attr.origin))
    return bounced('5.7.1', 'mail to file is restricted');
  try {
    const target = {
      msg: ctx.msg,
      copy: copyHeaders(ctx, attr, 'file'),
      rights: privsFor(ctx, attr),
      settings: ctx.settings,
      key: maildirKey(ctx.msg, attr),
    };
    if (file.endsWith('/')) return deliverMaildir(target, file);
    return await deliverMbox(target, file, {
      inSpool: false,
      success: `delivered to file: ${file}`,
    });
  } catch (err) {
    if (err instanceof DeliveryFailure) return err.outcome;
    throw err;
  }
}
