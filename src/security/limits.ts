/**
 * Operation limits, checked before execution and touching no store: graphql-armor's depth,
 * aliases, tokens and directives limits (and its "Did you mean" masking when suggestions are off),
 * and a cost limit (graphql-query-complexity) in which list sizes multiply: a connection costs its
 * page size (`first`/`last`, or the default page size) times its selection, the other lists their
 * known bound. Rejections are OPERATION_LIMIT_EXCEEDED (HTTP 400) with the limit's name.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import {
  type DocumentNode,
  type GraphQLError,
  type GraphQLField,
  type GraphQLSchema,
  getNullableType,
  isListType,
  type OperationDefinitionNode,
  type ValidationContext,
} from 'graphql';
import { type ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import { requestError } from './errors.js';

type LimitName = 'depth' | 'aliases' | 'tokens' | 'directives' | 'cost';

interface LimitSettings {
  limits: Config['security']['limits'];
  suggestions: boolean;
  pageSize: Config['pageSize'];
  /** Upper bounds of the lists that are not paginated. */
  listSizes: { characters: number; citations: number; categories: number; other: number };
}

export function limitSettings(config: Config): LimitSettings {
  return {
    limits: config.security.limits,
    suggestions: config.security.suggestions,
    pageSize: config.pageSize,
    listSizes: {
      characters: config.ingestion.maxCharacters,
      citations: config.chat.keep,
      categories: 50,
      other: 10,
    },
  };
}

function limitError(limit: LimitName, max: number, found?: number): GraphQLError {
  const what = {
    depth: 'nesting depth',
    aliases: 'number of aliases',
    tokens: 'number of tokens',
    directives: 'number of directives',
    cost: 'cost',
  }[limit];
  return requestError(
    'OPERATION_LIMIT_EXCEEDED',
    `The operation's ${what} exceeds the limit of ${max}${found === undefined ? '' : ` (found ${found})`}`,
    { limit, max, ...(found === undefined ? {} : { found }) },
  );
}

const FOUND_RE = /found (\d+)/;

/** graphql-armor's protections, reporting our own error instead of its "Syntax Error: …". */
function armor(settings: LimitSettings): Plugin {
  const { limits } = settings;
  const reject =
    (limit: LimitName, max: number) => (ctx: ValidationContext | null, err: GraphQLError) => {
      const found = FOUND_RE.exec(err.message)?.[1];
      const error = limitError(limit, max, found === undefined ? undefined : Number(found));
      // Validation rules report; the token limit runs in the parser, which can only throw.
      if (ctx) ctx.reportError(error);
      else throw error;
    };
  const common = { exposeLimits: true, propagateOnRejection: false } as const;
  return EnvelopArmorPlugin({
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: !settings.suggestions },
    maxDepth: {
      ...common,
      n: limits.depth,
      ignoreIntrospection: true,
      flattenFragments: true,
      onReject: [reject('depth', limits.depth)],
    },
    maxAliases: { ...common, n: limits.aliases, onReject: [reject('aliases', limits.aliases)] },
    maxDirectives: {
      ...common,
      n: limits.directives,
      onReject: [reject('directives', limits.directives)],
    },
    maxTokens: { ...common, n: limits.tokens, onReject: [reject('tokens', limits.tokens)] },
  }) as Plugin;
}

/** Cost of a field: 1, plus its selection's cost times the list size it stands for. */
function costEstimator(settings: LimitSettings): ComplexityEstimator {
  const { pageSize, listSizes } = settings;
  const clamp = (n: unknown, fallback: number) =>
    typeof n === 'number' && Number.isFinite(n)
      ? Math.min(Math.max(Math.trunc(n), 0), pageSize.max)
      : fallback;
  return ({ type, field, args, childComplexity }) => {
    const f = field as GraphQLField<unknown, unknown>;
    const paged = f.args.some((a) => a.name === 'first' || a.name === 'last');
    let size = 1;
    if (paged) {
      size = clamp(args.first ?? args.last, pageSize.default);
    } else if (isListType(getNullableType(f.type))) {
      const key = `${type.name}.${f.name}`;
      if (f.name === 'edges')
        size = 1; // counted by its connection's page size
      else if (key === 'Book.characters') size = listSizes.characters;
      else if (key === 'Message.citations') size = listSizes.citations;
      else if (key === 'Query.categories') size = listSizes.categories;
      else if (key === 'Query.searchBook') size = clamp(args.limit, listSizes.citations);
      else size = listSizes.other;
    }
    return 1 + size * childComplexity;
  };
}

/** The cost of one operation with its variables; null when the variables do not fit it. */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
  settings: LimitSettings,
): number | null {
  try {
    return getComplexity({
      schema,
      query: { ...document, definitions: [operation] } as DocumentNode,
      variables: variables ?? {},
      estimators: [costEstimator(settings)],
    });
  } catch {
    // Bad variables: execution reports them (BAD_USER_INPUT) without touching a store.
    return null;
  }
}

export function useOperationLimits(
  settings: LimitSettings,
  select: (
    document: DocumentNode,
    operationName?: string | null,
  ) => OperationDefinitionNode | undefined,
): Plugin[] {
  const { cost: maxCost } = settings.limits;
  const check = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null | undefined;
    variableValues?: Record<string, unknown> | null | undefined;
  }) => {
    const operation = select(args.document, args.operationName);
    if (!operation) return null;
    const cost = operationCost(
      args.schema,
      args.document,
      operation,
      args.variableValues ?? undefined,
      settings,
    );
    return cost !== null && cost > maxCost ? limitError('cost', maxCost, cost) : null;
  };
  // The cost of a document with given variables never changes: compute it once. Yoga's parse
  // cache hands out the same DocumentNode for the same text, so the memo is keyed on it.
  const memo = new WeakMap<DocumentNode, Map<string, GraphQLError | null>>();
  const checkOnce = (args: Parameters<typeof check>[0]) => {
    let byVariables = memo.get(args.document);
    if (!byVariables) {
      byVariables = new Map();
      memo.set(args.document, byVariables);
    }
    const key = `${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
    const known = byVariables.get(key);
    if (known !== undefined) return known;
    const error = check(args);
    if (byVariables.size >= 256) byVariables.clear();
    byVariables.set(key, error);
    return error;
  };
  const costPlugin: Plugin = {
    onExecute({ args, setResultAndStopExecution }) {
      const error = checkOnce(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = checkOnce(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
  return [armor(settings), costPlugin];
}
