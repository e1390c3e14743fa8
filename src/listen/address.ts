/** An IPv4 client on a dual-stack socket appears as `::ffff:a.b.c.d`; show it as plain IPv4. */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
