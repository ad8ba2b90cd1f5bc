import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  GraphQLIncludeDirective,
  type GraphQLNamedType,
  type GraphQLSchema,
  GraphQLSkipDirective,
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { selectOperation } from '../observability/operation.js';
import type { ArgumentCheck } from '../services/argument-checks.js';

/**
 * No write behind an argument error: before a mutation or a subscription runs (both may write),
 * every field it selects, at any depth and through fragments and variables, has its arguments
 * checked with the same checks the resolvers make. An operation with one bad argument anywhere
 * (say `messages(first: 101)` under the payload of `sendMessage`) runs no resolver at all and
 * answers `data: null` with the BAD_USER_INPUT errors, each at its field's path. This is a check
 * over the document and the variables at execution time: GraphQL validation proper is cached per
 * document and never sees the variables. Reads are not written behind, so they keep their
 * per-field errors.
 */
export function useArgumentGuard(checks: Record<string, ArgumentCheck>): Plugin {
  const run = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null | undefined;
    variableValues?: Record<string, unknown> | null | undefined;
  }): GraphQLError[] => {
    const operation = selectOperation(args.document, args.operationName);
    if (!operation || operation.operation === 'query') return [];
    return checkOperation(args.schema, args.document, operation, args.variableValues ?? {}, checks);
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const errors = run(args);
      if (errors.length > 0) setResultAndStopExecution({ data: null, errors });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = run(args);
      if (errors.length > 0) setResultAndStopExecution({ data: null, errors });
    },
  };
}

function checkOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Record<string, unknown>,
  checks: Record<string, ArgumentCheck>,
): GraphQLError[] {
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables);
  // Variables that do not coerce are reported by execution itself, before any resolver.
  if (coerced.errors) return [];
  const variables = coerced.coerced;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  }
  const root = schema.getRootType(operation.operation);
  if (!root) return [];
  const errors: GraphQLError[] = [];
  const included = (node: Parameters<typeof getDirectiveValues>[1]) =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.if !== true &&
    getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;

  const walk = (
    set: SelectionSetNode,
    parent: GraphQLNamedType,
    path: string[],
    spreads: ReadonlySet<string>,
  ) => {
    for (const selection of set.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition
          ? schema.getType(selection.typeCondition.name.value)
          : parent;
        if (on) walk(selection.selectionSet, on, path, spreads);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        const on = fragment && schema.getType(fragment.typeCondition.name.value);
        if (fragment && on && !spreads.has(name)) {
          walk(fragment.selectionSet, on, path, new Set([...spreads, name]));
        }
        continue;
      }
      if (!isObjectType(parent) && !isInterfaceType(parent)) continue;
      const field = parent.getFields()[selection.name.value];
      if (!field) continue; // __typename and the introspection fields
      const at = [...path, selection.alias?.value ?? selection.name.value];
      const check = checks[`${parent.name}.${field.name}`];
      if (check && field.args.length > 0) {
        try {
          check(getArgumentValues(field, selection, variables));
        } catch (err) {
          // Only the checks' coded refusals; anything else is left to execution to report.
          if (err instanceof GraphQLError && err.extensions.code) {
            errors.push(
              new GraphQLError(err.message, {
                nodes: [selection],
                path: at,
                extensions: err.extensions,
              }),
            );
          }
        }
      }
      if (selection.selectionSet) {
        walk(selection.selectionSet, getNamedType(field.type), at, spreads);
      }
    }
  };
  walk(operation.selectionSet, root, [], new Set());
  return errors;
}
