/**
 * `GET /collections/{c}/documents/search` of the Typesense stand-in: validates the parameters as
 * Typesense does (same messages and status codes), filters, matches (`*` or an empty query lists
 * every filtered document), sorts, pages and renders the response in Typesense's shape: `found`,
 * `out_of`, `page`, `hits` with `document`, `highlights`, `highlight`, `text_match` and
 * `text_match_info`, `facet_counts`, `request_params`, `search_cutoff`, `search_time_ms`.
 */
import type { Collection, StoredDoc } from './collection.js';
import { ApiError, badRequest } from './errors.js';
import { facetCounts, parseFacetBy, parseFacetQuery } from './facets.js';
import { applyFilter, parseFilter } from './filter.js';
import { type HighlightOptions, highlightField } from './highlight.js';
import {
  applyQueryFilters,
  type MatchOptions,
  matchText,
  parseQuery,
  type SearchField,
  type TextMatch,
  textMatchInfo,
} from './match.js';
import {
  boolListParam,
  boolParam,
  listParam,
  type Params,
  uintListParam,
  uintParam,
} from './params.js';
import { comparator, parseSortBy, type Ranked } from './sort.js';
import { isStringType } from './types.js';

const PER_PAGE_MAX = 250;
const WILDCARD_TEXT_MATCH = 100n;
const FIELD_MAX_WEIGHT = 15;
const TEXT_MATCH_TYPES = ['max_score', 'max_weight', 'sum_score'];
const UNSUPPORTED = [
  'group_by',
  'vector_query',
  'voice_query',
  'conversation',
  'pinned_hits',
  'hidden_hits',
];

interface Hit extends Ranked {
  match?: TextMatch;
}

/**
 * Typesense's field weights: without `query_by_weights`, 15 for the first field, one less for each
 * next; given weights are kept when they are at most 15 and in descending order, otherwise the
 * fields are ranked by weight and given 15, 14, ... (equal weights sharing a value).
 */
function normaliseWeights(given: number[], count: number): number[] {
  if (given.length === 0) {
    return Array.from({ length: count }, (_, i) => Math.max(FIELD_MAX_WEIGHT - i, 0));
  }
  const ordered = given.every((w, i) => w <= FIELD_MAX_WEIGHT && (i === 0 || w <= given[i - 1]!));
  if (ordered) return given;
  const ranked = given.map((w, i) => ({ w, i })).sort((a, b) => b.w - a.w || a.i - b.i);
  const out = new Array<number>(count).fill(0);
  let previous: { w: number; normalised: number } | null = null;
  for (const { w, i } of ranked) {
    const normalised: number =
      previous === null
        ? FIELD_MAX_WEIGHT
        : w === previous.w
          ? previous.normalised
          : Math.max(previous.normalised - 1, 0);
    out[i] = normalised;
    previous = { w, normalised };
  }
  return out;
}

function searchFields(params: Params, collection: Collection, wildcard: boolean): SearchField[] {
  const names = listParam(params, 'query_by');
  if (!wildcard && names.length === 0)
    throw badRequest('No search fields specified for the query.');
  const given = listParam(params, 'query_by_weights').map((w) => {
    if (!/^\d+$/.test(w))
      throw badRequest('Parameter `query_by_weights` must be an unsigned integer.');
    return Number.parseInt(w, 10);
  });
  if (given.length > 0 && given.length !== names.length) {
    throw badRequest(
      'Number of weights in `query_by_weights` does not match number of `query_by` fields.',
    );
  }
  const weights = normaliseWeights(given, names.length);
  const prefixes = boolListParam(params, 'prefix', names.length, true);
  const typos = uintListParam(params, 'num_typos', names.length, 2);
  return names.map((name, i) => {
    if (name === 'id') throw badRequest('Cannot use `id` as a query by field.');
    const field = collection.field(name);
    if (!field) throw new ApiError(404, `Could not find a field named \`${name}\` in the schema.`);
    if (!field.index)
      throw badRequest(`Field \`${name}\` is marked as a non-indexed field in the schema.`);
    if (!isStringType(field.type))
      throw badRequest(`Field \`${name}\` should be a string or a string array.`);
    return {
      name,
      weight: weights[i] as number,
      prefix: prefixes[i] as boolean,
      numTypos: Math.min(typos[i] as number, 2),
    };
  });
}

function prune(
  doc: Record<string, unknown>,
  include: string[],
  exclude: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (include.length > 0 && !include.includes(key)) continue;
    if (exclude.includes(key)) continue;
    out[key] = value;
  }
  return out;
}

function wildcardTextMatchInfo(): Record<string, unknown> {
  return {
    best_field_score: '0',
    best_field_weight: 12,
    fields_matched: 4,
    num_tokens_dropped: 0,
    score: '100',
    tokens_matched: 0,
    typo_prefix_score: 255,
  };
}

function renderHit(
  hit: Hit,
  fields: SearchField[],
  textMatchType: string,
  totalTokens: number,
  include: string[],
  exclude: string[],
  highlight: HighlightOptions & { only: string[]; fullFields: string[] },
): Record<string, unknown> {
  const stored: StoredDoc = hit.stored;
  const highlights: { entry: Record<string, unknown>; count: number }[] = [];
  const highlightObject: Record<string, unknown> = {};
  if (hit.match) {
    for (const spec of fields) {
      if (highlight.only.length > 0 && !highlight.only.includes(spec.name)) continue;
      const fm = hit.match.fields.get(spec.name);
      if (!fm) continue;
      const h = highlightField(
        spec.name,
        stored.doc[spec.name],
        stored.tokens.get(spec.name) ?? [],
        fm.terms,
        {
          ...highlight,
          full: highlight.fullFields.includes(spec.name),
        },
      );
      if (h.legacy) highlights.push({ entry: h.legacy, count: h.matchedCount });
      if (h.modern) highlightObject[spec.name] = h.modern;
    }
  }
  highlights.sort((a, b) => b.count - a.count);
  const m = hit.match;
  return {
    document: prune(stored.doc, include, exclude),
    highlight: highlightObject,
    highlights: highlights.map((h) => h.entry),
    text_match: hit.textMatch,
    text_match_info: m
      ? textMatchInfo(m.textMatch, textMatchType, totalTokens)
      : wildcardTextMatchInfo(),
  };
}

/** Runs one search; throws ApiError with Typesense's message and code on bad parameters. */
export function search(collection: Collection, params: Params): Record<string, unknown> {
  const started = performance.now();
  if (params.q === undefined) throw badRequest('Parameter `q` is required.');
  for (const name of UNSUPPORTED) {
    const value = params[name];
    if (value !== undefined && value !== '' && value !== 'false') {
      throw badRequest(
        `Parameter \`${name}\` is not supported by the embedded Typesense stand-in.`,
      );
    }
  }
  const rawQuery = params.q;
  const query = parseQuery(rawQuery, collection);
  const wildcard = rawQuery.trim() === '*' || query.include.length === 0;
  const fields = searchFields(params, collection, rawQuery.trim() === '*');
  const page = uintParam(params, 'page', 0);
  const offsetParam = uintParam(params, 'offset', 0);
  const perPage = uintParam(params, 'limit', uintParam(params, 'per_page', 10));
  const include = listParam(params, 'include_fields');
  const exclude = listParam(params, 'exclude_fields');
  const filter = parseFilter(params.filter_by, collection);
  const sortClauses = parseSortBy(params.sort_by, collection, wildcard);
  const facetFields = parseFacetBy(listParam(params, 'facet_by'), collection);
  const facetQuery = parseFacetQuery(params.facet_query, facetFields);
  if (perPage > PER_PAGE_MAX) {
    throw new ApiError(422, `Only upto ${PER_PAGE_MAX} hits can be fetched per page.`);
  }
  const textMatchType = params.text_match_type ?? 'max_score';
  if (!TEXT_MATCH_TYPES.includes(textMatchType)) {
    throw badRequest('Invalid text match type: must be one of max_score, max_weight, sum_score.');
  }
  const options: MatchOptions = {
    fields,
    dropTokensThreshold: uintParam(params, 'drop_tokens_threshold', 1),
    dropTokensMode: params.drop_tokens_mode ?? 'right_to_left',
    typoTokensThreshold: uintParam(params, 'typo_tokens_threshold', 1),
    minLen1Typo: uintParam(params, 'min_len_1typo', 4),
    minLen2Typo: uintParam(params, 'min_len_2typo', 7),
    maxCandidates: boolParam(params, 'exhaustive_search', false)
      ? 0
      : uintParam(params, 'max_candidates', 4),
    textMatchType,
    prioritizeExactMatch: boolParam(params, 'prioritize_exact_match', true),
    prioritizeTokenPosition: boolParam(params, 'prioritize_token_position', false),
    prioritizeNumMatchingFields: boolParam(params, 'prioritize_num_matching_fields', true),
  };

  const candidates = applyFilter(filter, collection);
  let hits: Hit[];
  if (wildcard) {
    applyQueryFilters(
      collection,
      query,
      fields.map((f) => f.name),
      candidates,
    );
    hits = [...candidates].map((seq) => ({
      stored: collection.bySeq.get(seq) as StoredDoc,
      textMatch: WILDCARD_TEXT_MATCH,
    }));
  } else {
    hits = [...matchText(collection, query, candidates, options).values()].map((match) => ({
      stored: collection.bySeq.get(match.seq) as StoredDoc,
      textMatch: match.textMatch,
      match,
    }));
  }
  hits.sort(comparator(sortClauses));

  const offset = page === 0 && offsetParam !== 0 ? offsetParam : perPage * (Math.max(page, 1) - 1);
  const highlight = {
    startTag: params.highlight_start_tag ?? '<mark>',
    endTag: params.highlight_end_tag ?? '</mark>',
    snippetThreshold: uintParam(params, 'snippet_threshold', 30),
    affixTokens: uintParam(params, 'highlight_affix_num_tokens', 4),
    full: false,
    only: listParam(params, 'highlight_fields'),
    fullFields: listParam(params, 'highlight_full_fields'),
  };
  const pageHits = hits
    .slice(offset, offset + perPage)
    .map((h) =>
      renderHit(h, fields, textMatchType, query.include.length, include, exclude, highlight),
    );

  const result: Record<string, unknown> = {
    facet_counts: facetCounts(
      facetFields,
      hits.map((h) => h.stored.seq),
      collection,
      uintParam(params, 'max_facet_values', 10),
      facetQuery,
    ),
    found: hits.length,
    hits: pageHits,
  };
  if (!exclude.includes('out_of')) result.out_of = collection.size;
  if (page === 0 && offsetParam !== 0) result.offset = offsetParam;
  else result.page = Math.max(page, 1);
  result.request_params = {
    collection_name: collection.meta.name,
    first_q: rawQuery,
    per_page: perPage,
    q: rawQuery,
  };
  result.search_cutoff = false;
  if (!exclude.includes('search_time_ms'))
    result.search_time_ms = Math.round(performance.now() - started);
  return result;
}
