/** CEL rules of x-kubernetes-validations (placeholder until the CEL library is wired in). */
export function evaluateRule(
  _rule: string,
  _self: unknown,
  _oldSelf: unknown,
): { ok: boolean; error?: string } {
  return { ok: true };
}
