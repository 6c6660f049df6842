// A value attached to an object without becoming part of it: a non-enumerable symbol
// property, invisible to msgpack, JSON, Object.keys, spread copies and deep equality. For
// things derived from an immutable value and worth keeping with it (its encoding, its sealed
// context). Not a WeakMap: a node makes such a value for every object it decodes or answers
// with, a WeakMap's ephemeron table keeps every entry until a full GC clears it, its
// rehashes took ~1% of node CPU under load (perf), and ephemerons add work to every major GC.

/** What `obj` holds in `slot`, if anything. */
export function readSlot<V>(obj: object, slot: symbol): V | undefined {
  return (obj as Record<symbol, V | undefined>)[slot];
}

/** Puts `value` in `obj`'s `slot`; a frozen or sealed object is left alone. */
export function writeSlot(obj: object, slot: symbol, value: unknown): void {
  if (Object.isExtensible(obj)) Object.defineProperty(obj, slot, { value, writable: true, configurable: true });
}
