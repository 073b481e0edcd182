import type { EventRecord } from './records.ts';
import { registryPrefixOf, unversionedMessageId } from './registry.ts';

/**
 * Which events a subscriber gets. Two forms with one meaning: the filter properties of an
 * EventDestination (`RegistryPrefixes`, `MessageIds`, `ResourceTypes`, `OriginResources`,
 * `SubordinateResources`, the excludes and the legacy `EventTypes`), and the `$filter` query of the
 * SSE stream (DSP0266 "Server-sent events"), which is parsed into a predicate here. Pure.
 */
export interface SubscriptionFilter {
  readonly registryPrefixes: readonly string[];
  readonly excludeRegistryPrefixes: readonly string[];
  readonly messageIds: readonly string[];
  readonly excludeMessageIds: readonly string[];
  readonly resourceTypes: readonly string[];
  readonly originResources: readonly string[];
  readonly subordinateResources: boolean;
  readonly eventTypes: readonly string[];
}

export const NO_FILTER: SubscriptionFilter = {
  registryPrefixes: [],
  excludeRegistryPrefixes: [],
  messageIds: [],
  excludeMessageIds: [],
  resourceTypes: [],
  originResources: [],
  subordinateResources: false,
  eventTypes: [],
};

function originMatches(origin: string, wanted: string, subordinate: boolean): boolean {
  const a = origin.replace(/\/+$/, '');
  const b = wanted.replace(/\/+$/, '');
  return a === b || (subordinate && a.startsWith(`${b}/`));
}

function messageIdMatches(messageId: string, wanted: string): boolean {
  // Versions are ignored: `ResourceEvent.ResourcePoweredOn` and `ResourceEvent.1.4.ResourcePoweredOn`
  // both match `ResourceEvent.1.4.ResourcePoweredOn`.
  return messageId === wanted || unversionedMessageId(messageId) === unversionedMessageId(wanted);
}

export function matches(f: SubscriptionFilter, r: EventRecord): boolean {
  const prefix = registryPrefixOf(r.msg.messageId);
  if (f.excludeRegistryPrefixes.includes(prefix)) return false;
  if (f.excludeMessageIds.some((m) => messageIdMatches(r.msg.messageId, m))) return false;
  if (f.registryPrefixes.length > 0 || f.messageIds.length > 0) {
    const byPrefix = f.registryPrefixes.includes(prefix);
    const byId = f.messageIds.some((m) => messageIdMatches(r.msg.messageId, m));
    if (!byPrefix && !byId) return false;
  }
  if (f.resourceTypes.length > 0 && !f.resourceTypes.includes(r.resourceType)) return false;
  if (
    f.originResources.length > 0 &&
    !f.originResources.some((o) => originMatches(r.origin, o, f.subordinateResources))
  ) {
    return false;
  }
  if (f.eventTypes.length > 0 && !f.eventTypes.includes(r.eventType)) return false;
  return true;
}

// --- SSE $filter ---------------------------------------------------------------------------------

/** The `$filter` properties the SSE stream accepts (EventService.SSEFilterPropertiesSupported). */
export const SSE_FILTER_PROPERTIES = [
  'EventFormatType',
  'MessageId',
  'OriginResource',
  'RegistryPrefix',
  'ResourceType',
  'SubordinateResources',
] as const;

export type SseFilterProperty = (typeof SSE_FILTER_PROPERTIES)[number];

type Node =
  | { kind: 'cmp'; prop: SseFilterProperty; op: 'eq' | 'ne'; value: string }
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; inner: Node };

export class FilterSyntaxError extends Error {}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push(c);
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= text.length) throw new FilterSyntaxError('unterminated string');
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j++;
      }
      tokens.push(`'${value}`);
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !" \t()'".includes(text[j]!)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

/**
 * Parses `$filter` of the SSE URI: comparisons `Property eq|ne value` (value bare or in single
 * quotes) joined by `and` / `or` (and binds tighter), `not`, and parentheses. Throws
 * `FilterSyntaxError` naming the problem.
 */
export function parseSseFilter(text: string): (r: EventRecord) => boolean {
  if (text.length > 2048) throw new FilterSyntaxError('too long');
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const t = tokens[pos++];
    if (t === undefined) throw new FilterSyntaxError('unexpected end');
    return t;
  };
  const parseOr = (depth: number): Node => {
    let left = parseAnd(depth);
    while (peek() === 'or') {
      pos++;
      left = { kind: 'or', left, right: parseAnd(depth) };
    }
    return left;
  };
  const parseAnd = (depth: number): Node => {
    let left = parseUnary(depth);
    while (peek() === 'and') {
      pos++;
      left = { kind: 'and', left, right: parseUnary(depth) };
    }
    return left;
  };
  const parseUnary = (depth: number): Node => {
    if (depth > 32) throw new FilterSyntaxError('nested too deeply');
    const t = next();
    if (t === '(') {
      const inner = parseOr(depth + 1);
      if (next() !== ')') throw new FilterSyntaxError("missing ')'");
      return inner;
    }
    if (t === 'not') return { kind: 'not', inner: parseUnary(depth + 1) };
    if (!(SSE_FILTER_PROPERTIES as readonly string[]).includes(t)) {
      throw new FilterSyntaxError(`unsupported property ${t.slice(0, 64)}`);
    }
    const op = next();
    if (op !== 'eq' && op !== 'ne') throw new FilterSyntaxError(`unsupported operator ${op.slice(0, 16)}`);
    const raw = next();
    if (raw === '(' || raw === ')') throw new FilterSyntaxError('missing value');
    const value = raw.startsWith("'") ? raw.slice(1) : raw;
    return { kind: 'cmp', prop: t as SseFilterProperty, op, value };
  };
  const tree = parseOr(0);
  if (pos !== tokens.length) throw new FilterSyntaxError(`unexpected ${String(tokens[pos]).slice(0, 32)}`);
  // `SubordinateResources eq true` widens every OriginResource comparison of the expression.
  let subordinate = false;
  const visit = (n: Node): void => {
    if (n.kind === 'cmp' && n.prop === 'SubordinateResources') {
      if (n.value !== 'true' && n.value !== 'false')
        throw new FilterSyntaxError('SubordinateResources takes true or false');
      if (n.op === 'eq' && n.value === 'true') subordinate = true;
    } else if (n.kind === 'and' || n.kind === 'or') {
      visit(n.left);
      visit(n.right);
    } else if (n.kind === 'not') visit(n.inner);
  };
  visit(tree);
  const evaluate = (n: Node, r: EventRecord): boolean => {
    switch (n.kind) {
      case 'and':
        return evaluate(n.left, r) && evaluate(n.right, r);
      case 'or':
        return evaluate(n.left, r) || evaluate(n.right, r);
      case 'not':
        return !evaluate(n.inner, r);
      case 'cmp': {
        let hit: boolean;
        switch (n.prop) {
          case 'EventFormatType':
            hit = n.value === 'Event';
            break;
          case 'MessageId':
            hit = messageIdMatches(r.msg.messageId, n.value);
            break;
          case 'OriginResource':
            hit = originMatches(r.origin, n.value, subordinate);
            break;
          case 'RegistryPrefix':
            hit = registryPrefixOf(r.msg.messageId) === n.value;
            break;
          case 'ResourceType':
            hit = r.resourceType === n.value;
            break;
          case 'SubordinateResources':
            // A modifier of OriginResource, not a condition of its own.
            return true;
        }
        return n.op === 'eq' ? hit : !hit;
      }
    }
  };
  return (r) => evaluate(tree, r);
}
