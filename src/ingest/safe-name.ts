export const SAFE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,79}$/;
const MAX_LENGTH = 60;

const SPECIAL: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  đ: 'd',
  ð: 'd',
  ł: 'l',
  þ: 'th',
  ı: 'i',
  ħ: 'h',
  ŋ: 'ng',
};

const ARABIC: Record<string, string> = {
  ا: 'a',
  أ: 'a',
  إ: 'i',
  آ: 'a',
  ٱ: 'a',
  ب: 'b',
  ت: 't',
  ث: 'th',
  ج: 'j',
  ح: 'h',
  خ: 'kh',
  د: 'd',
  ذ: 'dh',
  ر: 'r',
  ز: 'z',
  س: 's',
  ش: 'sh',
  ص: 's',
  ض: 'd',
  ط: 't',
  ظ: 'z',
  ع: 'a',
  غ: 'gh',
  ف: 'f',
  ق: 'q',
  ك: 'k',
  ل: 'l',
  م: 'm',
  ن: 'n',
  ه: 'h',
  ة: 'a',
  و: 'w',
  ي: 'y',
  ى: 'a',
  ئ: 'y',
  ؤ: 'w',
  ء: '',
  پ: 'p',
  چ: 'ch',
  ژ: 'zh',
  گ: 'g',
  ک: 'k',
  ی: 'y',
};

const CYRILLIC: Record<string, string> = {
  а: 'a',
  б: 'b',
  в: 'v',
  г: 'g',
  д: 'd',
  е: 'e',
  ё: 'e',
  ж: 'zh',
  з: 'z',
  и: 'i',
  й: 'i',
  к: 'k',
  л: 'l',
  м: 'm',
  н: 'n',
  о: 'o',
  п: 'p',
  р: 'r',
  с: 's',
  т: 't',
  у: 'u',
  ф: 'f',
  х: 'kh',
  ц: 'ts',
  ч: 'ch',
  ш: 'sh',
  щ: 'shch',
  ъ: '',
  ы: 'y',
  ь: '',
  э: 'e',
  ю: 'iu',
  я: 'ia',
  і: 'i',
  ї: 'i',
  є: 'ie',
  ґ: 'g',
};

const GREEK: Record<string, string> = {
  α: 'a',
  β: 'v',
  γ: 'g',
  δ: 'd',
  ε: 'e',
  ζ: 'z',
  η: 'i',
  θ: 'th',
  ι: 'i',
  κ: 'k',
  λ: 'l',
  μ: 'm',
  ν: 'n',
  ξ: 'x',
  ο: 'o',
  π: 'p',
  ρ: 'r',
  σ: 's',
  ς: 's',
  τ: 't',
  υ: 'y',
  φ: 'f',
  χ: 'ch',
  ψ: 'ps',
  ω: 'o',
};

/** ASCII transliteration of `name`, lowercased (no slug rules applied yet). */
function transliterate(name: string): string {
  let out = '';
  for (const char of name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()) {
    out += SPECIAL[char] ?? ARABIC[char] ?? CYRILLIC[char] ?? GREEK[char] ?? char;
  }
  return out;
}

/**
 * A character's `safe_name`: the file name of its system prompt
 * (`SYSTEM_PROMPT_STORAGE_PATH/{book_id}/{safe_name}.md`). Lowercase ASCII `[a-z0-9_-]`, starting
 * with a letter or digit, at most 60 characters, matching `SAFE_NAME_PATTERN`. Latin diacritics are
 * stripped and Arabic, Cyrillic and Greek letters transliterated; a name with nothing left becomes
 * `character`. Unique within a book: `mira`, `mira-2`, `mira-3`...
 *
 * The slug of `name`, unique against `taken` (which it is added to).
 */
export function safeName(name: string, taken: Set<string>): string {
  const base = slug(name);
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) {
    const suffix = `-${n}`;
    candidate = `${base.slice(0, MAX_LENGTH - suffix.length).replace(/[-_]+$/, '')}${suffix}`;
  }
  taken.add(candidate);
  return candidate;
}

function slug(name: string): string {
  let slug = transliterate(name)
    .replace(/['’`]/g, '')
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  if (slug.length > MAX_LENGTH) {
    slug = slug.slice(0, MAX_LENGTH);
    const cut = slug.lastIndexOf('-');
    if (cut >= MAX_LENGTH / 2) slug = slug.slice(0, cut);
    slug = slug.replace(/[-_]+$/, '');
  }
  return slug === '' ? 'character' : slug;
}
