// The whole catalog of main.cf parameters: the area files joined. Config,
// postconf -d and the catalog test read it; nothing else should need to.

import { ParamDef } from './param_def';
import { PARAMS as GLOBAL } from './params_global';
import { PARAMS as SMTPD } from './params_smtpd';
import { PARAMS as CLEANUP } from './params_cleanup';
import { PARAMS as QMGR } from './params_qmgr';
import { PARAMS as LOCAL } from './params_local';
import { PARAMS as TABLES } from './params_tables';
import { PARAMS as COMMANDS } from './params_commands';
import { PARAMS as SMTP } from './params_smtp';

export const ALL_PARAMS: readonly ParamDef[] = [
  ...GLOBAL,
  ...SMTPD,
  ...CLEANUP,
  ...QMGR,
  ...LOCAL,
  ...TABLES,
  ...COMMANDS,
  ...SMTP,
];

// By name; on a duplicate the first area wins and the catalog test fails.
export const CATALOG: ReadonlyMap<string, ParamDef> = new Map(
  [...ALL_PARAMS].reverse().map((def) => [def.name, def]),
);
