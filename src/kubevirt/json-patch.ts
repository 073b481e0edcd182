/** RFC 6902 JSON patches, as sent with `Content-Type: application/json-patch+json`. */

export type PatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** Escapes one JSON-pointer segment (RFC 6901): `~` → `~0`, `/` → `~1`. */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${pointerSegment(s)}`).join('');
}

/**
 * Guards a patch with a `test` of `metadata.resourceVersion`: the server applies it only to the exact
 * object version it was computed from, so a concurrent edit (which may have shifted the list indexes
 * the patch addresses) makes it fail instead of landing on the wrong element. The caller retries
 * against fresh state. An empty op list stays empty: nothing to write.
 */
export function guardedPatch(resourceVersion: string | undefined, ops: readonly PatchOp[]): PatchOp[] {
  if (ops.length === 0) return [];
  if (!resourceVersion) throw new Error('cannot guard a patch: the object has no resourceVersion');
  return [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops];
}

/**
 * Ops that set (value a string) or remove (value null) annotations, creating the annotations map
 * when the object has none.
 */
export function annotationOps(
  current: Record<string, string> | undefined,
  changes: Record<string, string | null>,
): PatchOp[] {
  const ops: PatchOp[] = [];
  const entries = Object.entries(changes).filter(([key, value]) =>
    value === null ? current !== undefined && key in current : current?.[key] !== value,
  );
  if (entries.length === 0) return ops;
  if (current === undefined) {
    const map: Record<string, string> = {};
    for (const [key, value] of entries) if (value !== null) map[key] = value;
    if (Object.keys(map).length > 0) ops.push({ op: 'add', path: '/metadata/annotations', value: map });
    return ops;
  }
  for (const [key, value] of entries) {
    const path = pointer('metadata', 'annotations', key);
    if (value === null) ops.push({ op: 'remove', path });
    else ops.push({ op: key in current ? 'replace' : 'add', path, value });
  }
  return ops;
}
