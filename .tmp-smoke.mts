import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { signSupabaseJwt, startSupabaseStandIn } from './src/embedded/supabase/server.js';
import { createTestDatabase } from './test/support/database.js';

const db = await createTestDatabase();
const secret = 'super-secret-jwt-token-with-at-least-32-characters';
const standIn = await startSupabaseStandIn({
  databaseUrl: db.url,
  maxConnections: db.maxConnections,
  jwtSecret: secret,
  storageDir: await mkdtemp(join(tmpdir(), 'st-')),
});
standIn.on('request', (r) => console.log('  ->', r.method, r.path, r.query, r.status));
const serviceKey = await signSupabaseJwt(secret, { role: 'service_role' });
const sb = createClient(standIn.url, serviceKey, {
  realtime: { transport: ws as never },
  auth: { persistSession: false, autoRefreshToken: false },
});
const cat = await sb
  .from('categories')
  .insert({ name: 'Philosophy', slug: 'philosophy' })
  .select()
  .single();
console.log(cat);
const book = await sb
  .from('books')
  .insert([
    { title: 'Meditations', author: 'Marcus', category_id: cat.data!.id },
    { title: 'Republic', author: 'Plato', category_id: null },
  ])
  .select('id,title,category:categories(name)');
console.log(JSON.stringify(book));
const ch = await sb
  .from('characters')
  .insert({ book_id: book.data![0]!.id, name: 'Marcus', safe_name: 'marcus', system_prompt: 'x' })
  .select('*');
console.log(ch.error, ch.status);
const r = await sb
  .from('books')
  .select('title, characters(id,name), categories(*)', { count: 'exact' })
  .order('title')
  .range(0, 0);
console.log(JSON.stringify(r));
console.log(await sb.from('books').select('*').eq('id', 'not-a-uuid'));
console.log(await sb.from('nope').select('*'));
console.log(
  await sb
    .from('books')
    .select('title')
    .or('title.eq.Republic,and(author.eq.Marcus,title.like.Med*)'),
);
console.log(await sb.from('books').select('title', { count: 'exact', head: true }));
const sess = await sb
  .from('chat_sessions')
  .insert({
    user_id: '00000000-0000-0000-0000-000000000001',
    character_id: ch.data![0]!.id,
    book_id: book.data![0]!.id,
  })
  .select()
  .single();
console.log(sess.error, sess.status);
console.log(
  JSON.stringify(
    await sb.rpc('save_chat_turn', {
      p_session_id: sess.data.id,
      p_user_id: '00000000-0000-0000-0000-000000000001',
      p_user_content: 'hi',
      p_reply_content: 'hello',
    }),
  ).slice(0, 300),
);
console.log(await sb.from('categories').insert({ name: 'Dup', slug: 'philosophy' }));
await standIn.close();
await db.close();
