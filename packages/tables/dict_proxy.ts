// proxy:type:name, which Postfix serves through proxymap(8) so that
// chrooted daemons share one open table. Used through dictOpen.
// XXX there is no proxymap service yet: the inner table is opened
// directly in this process, so it must be readable by the caller.

import type { Dict, OpenContext } from './dict';

export function openProxy(name: string, ctx: OpenContext): Dict {
  const inner = ctx.open(name, { fold: ctx.fold, config: ctx.config });
  return {
    type: 'proxy',
    name,
    flags: inner.flags,
    lookup: (key) => inner.lookup(key),
    close: () => inner.close(),
  };
}
