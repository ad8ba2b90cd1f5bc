const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}\p{M}\u2800]*$/u;

/**
 * Text a reader would see as nothing: only whitespace (every Unicode White_Space character, such
 * as U+00A0 and U+3000), invisible characters (Default_Ignorable_Code_Point and format
 * characters: U+200B–U+200D, U+2060, U+FEFF, U+3164, bidi marks, …), control characters, and
 * combining marks with no base character to sit on, and the blank Braille pattern (U+2800).
 */
export function isBlank(text: string): boolean {
  return BLANK.test(text);
}

/** Characters as a reader counts them: code points, not UTF-16 units. */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
