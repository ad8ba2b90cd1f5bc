/**
 * Qdrant's error vocabulary. Each factory produces the exact message prefix and HTTP status that
 * real Qdrant's `StorageError` → HTTP mapping produces (`Wrong input:` 400, `Not found:` 404,
 * `Bad request:` 400, already-exists 409, JSON format errors 400, validation errors 422).
 */
export class QdrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'QdrantError';
  }
}

/** `StorageError::BadInput` → 400 `Wrong input: …`. */
export const badInput = (description: string) =>
  new QdrantError(400, `Wrong input: ${description}`);

/** `StorageError::BadRequest` → 400 `Bad request: …`. */
export const badRequest = (description: string) =>
  new QdrantError(400, `Bad request: ${description}`);

/** `StorageError::NotFound` → 404 `Not found: …`. */
export const notFound = (description: string) => new QdrantError(404, `Not found: ${description}`);

/** `StorageError::AlreadyExists` → 409, worded as bad input (as Qdrant does since 1.8). */
export const alreadyExists = (description: string) =>
  new QdrantError(409, `Wrong input: ${description}`);

/** actix JSON extractor failure → 400 `Format error in JSON body: …`. */
export const formatError = (description: string) =>
  new QdrantError(400, `Format error in JSON body: ${description}`);

/** `validator` failure → 422 `Validation error in JSON body: [field: reason]`. */
export const validationError = (field: string, reason: string, where = 'JSON body') =>
  new QdrantError(422, `Validation error in ${where}: [${field}: ${reason}]`);

export const collectionNotFound = (name: string) =>
  notFound(`Collection \`${name}\` doesn't exist!`);
