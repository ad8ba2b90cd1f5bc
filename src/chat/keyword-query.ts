/** The two queries a reader's search question becomes: the narrative for the vectors and the keyword query. */
export function searchQueries(question: string): { narrative: string; keyword: string } {
  const q = question.trim();
  return { narrative: q, keyword: q };
}
