// What a key's value is made of, as the RDB delivers it, for a memory model to size. A sizer receives
// one key at a time: begin, its elements and containers in file order, then end for the estimate.

/** A value's estimated memory and the encoding the server would give it after loading the dump. */
export interface ValueEstimate {
  /** Bytes, as the model's MEMORY USAGE would count them for the value and its key. */
  bytes: number;
  /** OBJECT ENCODING after the load (int, embstr, raw, quicklist, listpack, intset, hashtable, skiplist, stream...). */
  encoding: string;
}

export interface KeySizer {
  /** `expires`: the key has a TTL. */
  begin(rdbType: number, keyLength: number, expires: boolean): void;
  /** A string value; `integer` is its value when it is stored as, or spells, a canonical integer. */
  string(length: number, integer: number | null): void;
  listItem(length: number, integer: number | null): void;
  setMember(length: number, integer: number | null): void;
  zsetMember(length: number, integer: number | null, score: number): void;
  hashField(length: number, integer: number | null): void;
  /** `expires`: the field has its own TTL (hash field expiration). */
  hashValue(length: number, integer: number | null, expires: boolean): void;
  /** A packed container as stored in the file (abi BLOB_* kind), before its elements. */
  blob(kind: number, bytes: number): void;
  /** A stream listpack, before its entries: its master ID as the 16-byte rax key, and its size. */
  streamListpack(masterKey: Uint8Array, bytes: number): void;
  streamEntry(fieldsAndValues: number): void;
  streamGroup(): void;
  /** A pending entry of the current group (its 16-byte ID). */
  streamPending(id: Uint8Array): void;
  streamConsumer(nameLength: number): void;
  /** A pending entry owned by the current consumer. */
  streamConsumerPending(id: Uint8Array): void;
  /** A module value of `bytes` bytes in the file (its size in memory is the module's business). */
  moduleValue(bytes: number): void;
  /** The key's estimate; the object may be reused for the next key. */
  end(): ValueEstimate;
}
