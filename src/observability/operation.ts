import {
  type DocumentNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** The operation a request runs: the named one, or the only one. */
export function selectOperation(
  document: DocumentNode,
  operationName?: string | null,
): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (operationName) return ops.find((o) => o.name?.value === operationName);
  return ops.length === 1 ? ops[0] : undefined;
}

/**
 * The root fields an operation selects, once per occurrence (aliases included), following inline
 * fragments and fragment spreads at the root.
 */
export function rootFields(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const fragments = new Map(
    document.definitions.flatMap((d) =>
      d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [],
    ),
  );
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) out.push(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) walk(f.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return out;
}

/**
 * A bounded label for metrics: the operation's name when it is one of the known operations
 * (client/operations), else `{type}:{root fields}` (bounded by the schema, since unknown fields
 * fail validation before execution).
 */
export function operationLabel(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  known: ReadonlySet<string>,
): string {
  const name = operation.name?.value;
  if (name && known.has(name)) return name;
  const fields = [...new Set(rootFields(document, operation))].sort();
  const label = `${operation.operation}:${fields.join('+')}`;
  return label.length > 120 ? `${operation.operation}:other` : label;
}
