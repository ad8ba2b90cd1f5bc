/**
 * Errors of the Typesense stand-in. An ApiError carries the HTTP status and the message that real
 * Typesense puts in its `{"message": ...}` body; handlers throw it and the HTTP layer renders it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Typesense's generic 404 body (`res->set_404()`), used for unknown collections and routes. */
export function notFound(): ApiError {
  return new ApiError(404, 'Not Found');
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, message);
}
