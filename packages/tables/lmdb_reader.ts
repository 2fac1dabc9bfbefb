// Reads LMDB data format 1 files (liblmdb 0.9, as Postfix's dict_lmdb
// writes them) in TypeScript, for dict_lmdb.ts. Like Postfix (MDB_NOLOCK)
// it needs no "-lock" file, which mail_owner could not create beside
// /etc/postfix tables. Two meta pages, the newer by txnid wins; the main
// database is a B+tree ordered by memcmp. Known limits: 64-bit layout
// only; no sub-databases or duplicate keys.

import * as fs from 'node:fs';

const PAGE_HEADER = 16;
const NODE_HEADER = 8;
const MAGIC = 0xbeefc0de;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const F_BIGDATA = 0x01;
const INVALID = 0xffffffffffffffffn;

// Offsets in a meta page (MDB_meta after the page header).
const META = {
  magic: 16,
  version: 20,
  pageSize: 40, // mm_dbs[FREE_DBI].md_pad holds the page size
  mainRoot: 128, // mm_dbs[MAIN_DBI].md_root
  txnid: 144,
} as const;

export class LmdbFormatError extends Error {}

interface Node {
  key: Buffer;
  flags: number;
  lo: number; // data size (leaf) or low 32 bits of the child page (branch)
  data: Buffer; // the bytes after the key
}

// Pages kept in memory per open table; the dict layer reopens a table
// whose file changed, so the cache never outlives a change by more than
// FileStamp's check interval.
const CACHE_PAGES = 1024;

export class LmdbReader {
  #fd: number;
  #pageSize: number;
  #pages = new Map<bigint, Buffer>();
  #rootPage: bigint | undefined;

  constructor(file: string) {
    this.#fd = fs.openSync(file, 'r');
    try {
      this.#pageSize = this.#readPageSize();
    } catch (err) {
      fs.closeSync(this.#fd);
      throw err;
    }
  }

  #readPageSize(): number {
    const head = this.#read(0, 64 + PAGE_HEADER + 64);
    if (head.readUInt32LE(META.magic) !== MAGIC)
      throw new LmdbFormatError('not an LMDB file (bad magic number)');
    const version = head.readUInt32LE(META.version);
    if (version !== 1)
      throw new LmdbFormatError(`LMDB data format ${version} is not supported`);
    return head.readUInt32LE(META.pageSize);
  }

  #read(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const got = fs.readSync(this.#fd, buf, 0, length, offset);
    if (got < length) throw new LmdbFormatError('truncated LMDB file');
    return buf;
  }

  #page(pgno: bigint): Buffer {
    const hit = this.#pages.get(pgno);
    if (hit) return hit;
    const page = this.#read(Number(pgno) * this.#pageSize, this.#pageSize);
    if (this.#pages.size >= CACHE_PAGES) this.#pages.clear();
    this.#pages.set(pgno, page);
    return page;
  }

  // The root of the newest committed snapshot when the table was opened.
  #root(): bigint {
    if (this.#rootPage !== undefined) return this.#rootPage;
    const metas = [this.#page(0n), this.#page(1n)];
    const txn = metas.map((m) => m.readBigUInt64LE(META.txnid));
    const meta = txn[1] > txn[0] ? metas[1] : metas[0];
    this.#rootPage = meta.readBigUInt64LE(META.mainRoot);
    return this.#rootPage;
  }

  get(key: Buffer): Buffer | undefined {
    let pgno = this.#root();
    if (pgno === INVALID) return undefined;
    for (let depth = 0; depth < 64; depth++) {
      const page = this.#page(pgno);
      const flags = page.readUInt16LE(10);
      if (flags & P_LEAF) return this.#leafGet(page, key);
      if (!(flags & P_BRANCH))
        throw new LmdbFormatError(`page ${pgno}: bad page type`);
      pgno = childPage(branchChild(page, key));
    }
    throw new LmdbFormatError('B+tree too deep');
  }

  #leafGet(page: Buffer, key: Buffer): Buffer | undefined {
    let lo = 0;
    let hi = nodeCount(page) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const node = nodeAt(page, mid);
      const cmp = Buffer.compare(node.key, key);
      if (cmp === 0) return this.#value(node);
      if (cmp < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  // Big values live on overflow pages; the node holds their page number.
  #value(node: Node): Buffer {
    const size = node.lo;
    if (!(node.flags & F_BIGDATA)) return node.data.subarray(0, size);
    const pgno = node.data.readBigUInt64LE(0);
    return this.#read(Number(pgno) * this.#pageSize + PAGE_HEADER, size);
  }

  *entries(): Iterable<[Buffer, Buffer]> {
    const root = this.#root();
    if (root !== INVALID) yield* this.#walk(root, 0);
  }

  *#walk(pgno: bigint, depth: number): Iterable<[Buffer, Buffer]> {
    if (depth > 64) throw new LmdbFormatError('B+tree too deep');
    const page = this.#page(pgno);
    const leaf = (page.readUInt16LE(10) & P_LEAF) !== 0;
    for (let i = 0; i < nodeCount(page); i++) {
      const node = nodeAt(page, i);
      if (leaf) yield [Buffer.from(node.key), this.#value(node)];
      else yield* this.#walk(childPage(node), depth + 1);
    }
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

function nodeCount(page: Buffer): number {
  return (page.readUInt16LE(12) - PAGE_HEADER) >> 1;
}

function nodeAt(page: Buffer, index: number): Node {
  const at = page.readUInt16LE(PAGE_HEADER + index * 2);
  const lo = page.readUInt16LE(at) | (page.readUInt16LE(at + 2) << 16);
  const flags = page.readUInt16LE(at + 4);
  const ksize = page.readUInt16LE(at + 6);
  const keyStart = at + NODE_HEADER;
  return {
    key: page.subarray(keyStart, keyStart + ksize),
    flags,
    lo: lo >>> 0,
    data: page.subarray(keyStart + ksize),
  };
}

// The last branch node whose key is not above the key; the first node's
// key is empty and stands for everything below the second.
function branchChild(page: Buffer, key: Buffer): Node {
  let lo = 1;
  let hi = nodeCount(page) - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (Buffer.compare(nodeAt(page, mid).key, key) <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return nodeAt(page, found);
}

// Branch nodes keep a 48-bit page number in lo, hi and flags.
function childPage(node: Node): bigint {
  return BigInt(node.lo) | (BigInt(node.flags) << 32n);
}
