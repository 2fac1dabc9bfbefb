// pgsql:/etc/postfix/x.cf, Postfix's pgsql_table(5): a query against
// PostgreSQL through the pg driver, one pool per server and table, the
// servers of "hosts" tried in order. A server that fails is skipped for
// retry_interval; when none answers, the lookup rejects with DictError
// and the mail is deferred. dict.ts loads this file on first use.

import { Pool, type PoolConfig } from 'pg';
import { msg } from '../log/log';
import {
  DbConfig,
  domainFilter,
  formatResult,
  joinResults,
  parseTemplate,
  type DomainFilter,
  type TemplatePart,
} from './dict_db_common';
import { DICT_FLAG, DictError, type Dict, type OpenContext } from './dict';
import { DictSyntaxError } from './dict_parse';
import { bindQuery, compileQuery, type SqlPiece } from './dict_pgsql_query';

const POOL_SIZE = 4; // connections per server and table, per process
const CONNECT_TIMEOUT_MS = 10_000;

// Every column comes back as PostgreSQL's text, as libpq gives it to
// Postfix: "t", not true; "007", not 7.
const TEXT_TYPES = { getTypeParser: () => (text: string) => text };

interface PgServer {
  label: string; // as written in "hosts", for log lines
  config: PoolConfig;
  pool?: Pool;
  deadUntil: number;
}

export function openPgsql(name: string, ctx: OpenContext): Dict {
  return new PgsqlDict(name, DbConfig.read(name), ctx);
}

class PgsqlDict implements Dict {
  readonly type = 'pgsql';
  readonly name: string;
  readonly flags = DICT_FLAG.FIXED;
  #servers: PgServer[];
  #query: SqlPiece[];
  #format: TemplatePart[];
  #domain: DomainFilter;
  #limit: number;
  #retryMs: number;

  constructor(name: string, config: DbConfig, ctx: OpenContext) {
    this.name = name;
    this.#query = compileQuery(config, queryText(config));
    this.#format = parseTemplate(
      config,
      'result_format',
      config.str('result_format', '%s'),
    );
    this.#limit = config.int('expansion_limit', 0);
    this.#retryMs = config.int('retry_interval', 60) * 1000;
    this.#servers = parseHosts(config);
    this.#domain = domainFilter(config, ctx);
  }

  async lookup(key: string): Promise<string | undefined> {
    if (!(await this.#domain.allows(key))) return undefined;
    const query = bindQuery(this.#query, key);
    if (!query) return undefined;
    const rows = await this.#run(query.text, query.values);
    const values: string[] = [];
    for (const row of rows)
      for (const field of row) {
        if (field === null) continue;
        const value = formatResult(this.#format, key, String(field));
        if (value !== undefined) values.push(value);
      }
    return joinResults(this, this.#limit, key, values);
  }

  close(): void {
    this.#domain.close();
    for (const server of this.#servers) {
      void server.pool?.end().catch(() => undefined);
      server.pool = undefined;
    }
  }

  // The first live server answers. A connection failure moves on to
  // the next; an SQL error is the query's fault and fails at once.
  async #run(text: string, values: string[]): Promise<unknown[][]> {
    let why = 'no server of "hosts" is available';
    for (const server of this.#servers) {
      if (server.deadUntil > Date.now()) continue;
      try {
        const pool = this.#pool(server);
        const result = await pool.query({
          text,
          values,
          rowMode: 'array',
          types: TEXT_TYPES,
        });
        return result.rows;
      } catch (err) {
        why = errorText(err);
        if (isSqlError(err))
          throw new DictError(`pgsql:${this.name}: query failed: ${why}`);
        msg.warn(`connect to pgsql server ${server.label}: ${why}`);
        server.deadUntil = Date.now() + this.#retryMs;
        this.#drop(server);
      }
    }
    throw new DictError(`pgsql:${this.name}: query failed: ${why}`);
  }

  #pool(server: PgServer): Pool {
    if (server.pool) return server.pool;
    const pool = new Pool(server.config);
    // An idle connection that the server closes must not end the daemon.
    pool.on('error', (err) =>
      msg.warn(`pgsql server ${server.label}: ${errorText(err)}`),
    );
    server.pool = pool;
    return pool;
  }

  #drop(server: PgServer): void {
    void server.pool?.end().catch(() => undefined);
    server.pool = undefined;
  }
}

// "query", or the pre-2.2 select_field, table, where_field form.
function queryText(config: DbConfig): string {
  if (config.has('query')) return config.str('query');
  const legacy = ['select_field', 'table', 'where_field'];
  if (!legacy.every((name) => config.has(name)))
    throw new DictSyntaxError(
      `${config.file}: missing "query" (or select_field, table and where_field)`,
    );
  const [select, table, where] = legacy.map((name) => config.str(name));
  const extra = config.str('additional_conditions');
  return `SELECT ${select} FROM ${table} WHERE ${where} = '%s' ${extra}`;
}

function parseHosts(config: DbConfig): PgServer[] {
  const base: PoolConfig = {
    user: config.str('user') || undefined,
    password: config.str('password') || undefined,
    database: config.str('dbname') || undefined,
    max: POOL_SIZE,
    idleTimeoutMillis: config.int('idle_interval', 60) * 1000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    allowExitOnIdle: true,
    application_name: 'postfix',
  };
  if (!base.database) config.fail('dbname', 'missing "dbname"');
  const hosts = config.list('hosts', 'localhost');
  // XXX Postfix tries the servers in a random order (UNIX-domain ones
  // first); we try them in the order written, so that failover is
  // predictable, and have no parameter to choose.
  return hosts.map((host) => ({
    label: host,
    config: { ...base, ...hostConfig(config, host) },
    deadUntil: 0,
  }));
}

// unix:/dir or unix:/dir/.s.PGSQL.5432, inet:host:port, host[:port],
// [v6]:port, or a postgresql:// URI.
export function hostConfig(config: DbConfig, host: string): PoolConfig {
  if (/^postgres(ql)?:\/\//.test(host)) return { connectionString: host };
  if (host.startsWith('unix:')) {
    const path = host.slice('unix:'.length);
    const socket = /^(.*)\/\.s\.PGSQL\.(\d+)$/.exec(path);
    if (socket) return { host: socket[1], port: Number(socket[2]) };
    return { host: path };
  }
  const inet = host.replace(/^inet:/, '');
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(inet);
  if (!match) config.fail('hosts', `bad pgsql server: "${host}"`);
  const port = match[3] ? Number(match[3]) : 5432;
  return { host: match[1] ?? match[2], port };
}

// Errors with an SQLSTATE outside the classes of a failed session (08
// connection, 28 authorization, 3D database, 53 resources, 57 operator
// intervention) come from the statement.
function isSqlError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return !/^(08|28|3D|53|57)/.test(code);
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim() || 'unknown error';
}
