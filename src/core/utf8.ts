// Byte-bounded text. Some wire fields cap their UTF-8 length (a WebSocket close reason:
// 123 bytes); cutting the encoding at a byte count can split a character, and decoding
// that half character yields U+FFFD, three bytes, so the result can exceed the cap.

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, cut between characters. */
export function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  // Back off over continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}
