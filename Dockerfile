# The Falsafa gateway (and, with another command, its worker). Node 20, TypeScript run by tsx.
#   docker build -t falsafa-gateway .
#   docker run -p 4000:4000 --env-file .env falsafa-gateway              # the gateway
#   docker run --env-file .env falsafa-gateway node --import tsx src/worker-main.ts   # a worker
# Untested on the machines this was written on (no Docker engine there).

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/standins/package.json ./packages/standins/
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    FALSAFA_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY schema ./schema
COPY resolvers ./resolvers
COPY supabase ./supabase
# The stand-ins (docker-compose's `supabase` service runs one; the gateway only with no URLs set).
COPY packages/standins/package.json ./packages/standins/
COPY packages/standins/bin ./packages/standins/bin
COPY packages/standins/src ./packages/standins/src
# GraphiQL's tabs and the trusted documents (persisted-documents.json) come from here.
COPY client/operations ./client/operations
COPY client/generated ./client/generated
# The word vectors' compact file, made once here (node_modules/.cache is not writable at run time).
RUN node --import tsx -e "import('./src/providers/word-vectors.ts').then((m) => m.loadWordVectors())"
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains (SHUTDOWN_TIMEOUT_MS, default 25 s): give the container more than that to stop.
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/main.ts"]
