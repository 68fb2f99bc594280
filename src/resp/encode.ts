// Commands as RESP arrays of bulk strings, the form every Redis command takes on the wire.
const utf8 = new TextEncoder();

export type CommandArg = string | Uint8Array | number | bigint;

function bytesOf(arg: CommandArg): Uint8Array {
  return arg instanceof Uint8Array ? arg : utf8.encode(String(arg));
}

/** Encodes one command: `*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per argument (binary-safe). */
export function encodeCommand(args: readonly CommandArg[]): Uint8Array {
  const parts = args.map(bytesOf);
  const heads = parts.map((p) => utf8.encode(`$${p.length}\r\n`));
  const first = utf8.encode(`*${parts.length}\r\n`);
  const size = parts.reduce((n, p, i) => n + heads[i]!.length + p.length + 2, first.length);
  const out = new Uint8Array(size);
  out.set(first, 0);
  let at = first.length;
  parts.forEach((p, i) => {
    out.set(heads[i]!, at);
    at += heads[i]!.length;
    out.set(p, at);
    at += p.length;
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  });
  return out;
}
