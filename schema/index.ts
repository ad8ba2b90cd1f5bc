import { lexicographicSortSchema } from 'graphql';
import { withStoreErrorsMapped } from '../src/errors.js';
import { builder } from './builder.js';
import './node.js';
import './category.js';
import './book.js';
import './character.js';
import './message.js';
import './chat-session.js';
import './viewer.js';
import './book-processing.js';
import './book-upload.js';
import './chat-turn.js';
import './search.js';

export const schema = withStoreErrorsMapped(builder.toSchema());
export const sortedSchema = lexicographicSortSchema(schema);
