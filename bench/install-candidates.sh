#!/usr/bin/env sh
# Installs the optional candidates of the benchmark (graphql-jit, response cache, and the peer:
# PostGraphile 5, which the benchmark runs in a process of its own) outside the project, so that its package.json and lock file stay as they are, and links the packages
# they must share with the gateway (graphql, graphql-yoga, @envelop/core) to the project's own.
# Then: BENCH_EXTRA_MODULES=<dir> npm run bench
set -eu
dir="${1:-${TMPDIR:-/tmp}/falsafa-bench-candidates}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{ "name": "falsafa-bench-candidates", "private": true }' > package.json
npm install --no-audit --no-fund --save-exact \
  @envelop/graphql-jit@11.2.1 @graphql-yoga/plugin-response-cache@3.26.1 \
  postgraphile@5.1.5 @graphile/simplify-inflection@9.0.0
for m in graphql graphql-yoga @envelop/core; do
  rm -rf "node_modules/$m"
  ln -s "$root/node_modules/$m" "node_modules/$m"
done
echo "BENCH_EXTRA_MODULES=$dir"
