// main.cf parameters read by the commands part, joined into the catalog by
// params.ts. The commands engineer owns this file and adds every parameter the
// part reads: { name, type, default (Postfix's text), min?, max?, doc }.

import { ParamDef } from './param_def';

export const PARAMS: ParamDef[] = [];
