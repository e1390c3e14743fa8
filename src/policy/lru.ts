// A map that keeps its entries in order of use, oldest first, every
// operation O(1): the per-source state sweeps and evicts from the old end.
//
// Not a plain Map's insertion order: V8 leaves a deleted entry's slot in
// place until the table is rebuilt, and each new iteration starts at the
// front, so under delete+re-set churn "look at the oldest" walks thousands of
// dead slots per call. Here the order is an explicit linked list.

interface Node<V> {
  readonly key: string;
  value: V;
  older: Node<V> | null;
  newer: Node<V> | null;
}

export interface LruEntry<V> {
  readonly key: string;
  readonly value: V;
}

export class LruMap<V> {
  private readonly nodes = new Map<string, Node<V>>();
  private oldestNode: Node<V> | null = null;
  private newestNode: Node<V> | null = null;

  /** The value, without counting as a use. */
  get(key: string): V | undefined {
    return this.nodes.get(key)?.value;
  }

  /** Sets the value and makes it the newest. */
  set(key: string, value: V): void {
    let node = this.nodes.get(key);
    if (node === undefined) {
      node = { key, value, older: null, newer: null };
      this.nodes.set(key, node);
    } else {
      node.value = value;
      if (node === this.newestNode) return;
      this.unlink(node);
    }
    node.older = this.newestNode;
    if (this.newestNode !== null) this.newestNode.newer = node;
    this.newestNode = node;
    if (this.oldestNode === null) this.oldestNode = node;
  }

  delete(key: string): boolean {
    const node = this.nodes.get(key);
    if (node === undefined) return false;
    this.nodes.delete(key);
    this.unlink(node);
    return true;
  }

  /** The least recently set entry. */
  oldest(): LruEntry<V> | undefined {
    return this.oldestNode ?? undefined;
  }

  get size(): number {
    return this.nodes.size;
  }

  private unlink(node: Node<V>): void {
    if (node.older === null) this.oldestNode = node.newer;
    else node.older.newer = node.newer;
    if (node.newer === null) this.newestNode = node.older;
    else node.newer.older = node.older;
    node.older = null;
    node.newer = null;
  }
}
