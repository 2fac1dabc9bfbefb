// Writes a whole LMDB data format 1 file (what Postfix's liblmdb 0.9
// reads and writes) from sorted entries, in TypeScript: leaf pages
// packed in key order, big values on overflow pages, branch levels above
// them, and the two meta pages. postmap renames the result into place.
// Known limits: 4096-byte pages and 64-bit layout; keys up to 511 bytes,
// as liblmdb's default build allows.

const PAGE_SIZE = 4096;
const PAGE_HEADER = 16;
const NODE_HEADER = 8;
const MAX_KEY = 511;
// liblmdb's me_nodemax for 4096-byte pages: bigger nodes go to overflow.
const NODE_MAX = (((PAGE_SIZE - PAGE_HEADER) / 2) & -2) - 2;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const F_BIGDATA = 0x01;
const INVALID = 0xffffffffffffffffn;
const MIN_MAP_SIZE = 16 * 1024 * 1024; // Postfix's lmdb_map_size default

export class LmdbWriteError extends Error {}

interface PendingNode {
  key: Buffer;
  data: Buffer; // the value, an overflow page number, or a child page
  size: number; // mn_lo/mn_hi: value size, or the child page number
  flags: number;
}

interface Stats {
  branch: number;
  leaf: number;
  overflow: number;
}

// Pages by number; 0 and 1 are the meta pages, written last.
class PageFile {
  pages: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)];
  stats: Stats = { branch: 0, leaf: 0, overflow: 0 };

  add(page: Buffer): number {
    this.pages.push(page);
    return this.pages.length - 1;
  }

  // A value too big for a leaf node: its own run of pages.
  addOverflow(value: Buffer): number {
    const count = Math.ceil((PAGE_HEADER + value.length) / PAGE_SIZE);
    const run = Buffer.alloc(count * PAGE_SIZE);
    const pgno = this.pages.length;
    run.writeBigUInt64LE(BigInt(pgno), 0);
    run.writeUInt16LE(P_OVERFLOW, 10);
    run.writeUInt32LE(count, 12);
    value.copy(run, PAGE_HEADER);
    for (let i = 0; i < count; i++)
      this.pages.push(run.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
    this.stats.overflow += count;
    return pgno;
  }
}

function nodeSize(node: PendingNode): number {
  const size = NODE_HEADER + node.key.length + node.data.length;
  return size + (size & 1);
}

// Fills one page from the end down, as liblmdb's node_add does.
function writePage(pgno: number, flags: number, nodes: PendingNode[]): Buffer {
  const page = Buffer.alloc(PAGE_SIZE);
  page.writeBigUInt64LE(BigInt(pgno), 0);
  page.writeUInt16LE(flags, 10);
  let upper = PAGE_SIZE;
  nodes.forEach((node, i) => {
    upper -= nodeSize(node);
    page.writeUInt16LE(upper, PAGE_HEADER + i * 2);
    page.writeUInt16LE(node.size & 0xffff, upper);
    page.writeUInt16LE(Math.floor(node.size / 0x10000) & 0xffff, upper + 2);
    page.writeUInt16LE(node.flags, upper + 4);
    page.writeUInt16LE(node.key.length, upper + 6);
    node.key.copy(page, upper + NODE_HEADER);
    node.data.copy(page, upper + NODE_HEADER + node.key.length);
  });
  page.writeUInt16LE(PAGE_HEADER + nodes.length * 2, 12);
  page.writeUInt16LE(upper, 14);
  return page;
}

// Greedy packing into pages; returns (first key, page number) per page.
function packLevel(
  file: PageFile,
  nodes: PendingNode[],
  flags: number,
): Array<[Buffer, number]> {
  const out: Array<[Buffer, number]> = [];
  let batch: PendingNode[] = [];
  let used = PAGE_HEADER;
  const flush = () => {
    const pgno = file.add(Buffer.alloc(0));
    file.pages[pgno] = writePage(pgno, flags, batch);
    out.push([batch[0].key, pgno]);
    batch = [];
    used = PAGE_HEADER;
  };
  for (const node of nodes) {
    const need = 2 + nodeSize(node);
    if (batch.length > 0 && used + need > PAGE_SIZE) flush();
    batch.push(node);
    used += need;
  }
  if (batch.length > 0) flush();
  return out;
}

function leafNode(file: PageFile, key: Buffer, value: Buffer): PendingNode {
  if (key.length === 0 || key.length > MAX_KEY)
    throw new LmdbWriteError(
      `key length ${key.length} is outside 1..${MAX_KEY}`,
    );
  if (NODE_HEADER + key.length + value.length <= NODE_MAX)
    return { key, data: value, size: value.length, flags: 0 };
  const pgno = Buffer.alloc(8);
  pgno.writeBigUInt64LE(BigInt(file.addOverflow(value)));
  return { key, data: pgno, size: value.length, flags: F_BIGDATA };
}

// The first key of each branch level is empty: it stands for "below".
function branchNodes(children: Array<[Buffer, number]>): PendingNode[] {
  return children.map(([key, pgno], i) => ({
    key: i === 0 ? Buffer.alloc(0) : key,
    data: Buffer.alloc(0),
    size: pgno,
    flags: 0, // page numbers above 2^32 would go here; files stay smaller
  }));
}

interface Tree {
  root: bigint;
  depth: number;
}

function buildTree(file: PageFile, entries: Array<[Buffer, Buffer]>): Tree {
  if (entries.length === 0) return { root: INVALID, depth: 0 };
  const leaves = entries.map(([key, value]) => leafNode(file, key, value));
  let level = packLevel(file, leaves, P_LEAF);
  file.stats.leaf = level.length;
  let depth = 1;
  while (level.length > 1) {
    level = packLevel(file, branchNodes(level), P_BRANCH);
    file.stats.branch += level.length;
    depth++;
  }
  return { root: BigInt(level[0][1]), depth };
}

function writeMeta(
  file: PageFile,
  pgno: number,
  tree: Tree,
  entries: number,
): Buffer {
  const page = Buffer.alloc(PAGE_SIZE);
  const lastPage = file.pages.length - 1;
  const mapSize = Math.max(MIN_MAP_SIZE, (lastPage + 1) * PAGE_SIZE * 2);
  page.writeBigUInt64LE(BigInt(pgno), 0);
  page.writeUInt16LE(P_META, 10);
  page.writeUInt32LE(0xbeefc0de, 16);
  page.writeUInt32LE(1, 20); // data format 1
  page.writeBigUInt64LE(BigInt(mapSize), 32);
  // FREE_DBI: empty; md_pad holds the page size, md_flags the
  // persistent environment flags (MDB_NOSUBDIR | MDB_INTEGERKEY).
  page.writeUInt32LE(PAGE_SIZE, 40);
  page.writeUInt16LE(0x4008, 44);
  page.writeBigUInt64LE(INVALID, 80);
  // MAIN_DBI
  page.writeUInt16LE(tree.depth, 94);
  page.writeBigUInt64LE(BigInt(file.stats.branch), 96);
  page.writeBigUInt64LE(BigInt(file.stats.leaf), 104);
  page.writeBigUInt64LE(BigInt(file.stats.overflow), 112);
  page.writeBigUInt64LE(BigInt(entries), 120);
  page.writeBigUInt64LE(tree.root, 128);
  page.writeBigUInt64LE(BigInt(lastPage), 136);
  page.writeBigUInt64LE(BigInt(pgno), 144); // txnid: meta 1 is newest
  return page;
}

// entries: distinct keys, in any order.
export function lmdbImage(entries: Array<[Buffer, Buffer]>): Buffer {
  const sorted = [...entries].sort(([a], [b]) => Buffer.compare(a, b));
  const file = new PageFile();
  const tree = buildTree(file, sorted);
  file.pages[0] = writeMeta(file, 0, tree, sorted.length);
  file.pages[1] = writeMeta(file, 1, tree, sorted.length);
  return Buffer.concat(file.pages);
}
