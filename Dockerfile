# syntax=docker/dockerfile:1
# One image for both processes: the worker (default command) and Bull Board
# (`node dist/bull-board/server.js`, see docker-compose.yml).

# --- build: all dependencies, compile TypeScript ---------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies and compiled code only, non-root -------------
FROM node:20-bookworm-slim AS runtime
# Inside a container every interface is the container's own: listen on all of them so the
# published ports and health checks reach the servers (the defaults outside are 127.0.0.1).
ENV NODE_ENV=production \
    LOG_FORMAT=json \
    WORKER_HTTP_PORT=8080 \
    WORKER_HTTP_HOST=0.0.0.0 \
    BULL_BOARD_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY config ./config
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/bull-board ./dist/bull-board
# The image's own `node` user (uid 1000); the app files stay root-owned and read-only to it.
USER node
EXPOSE 8080 3000
# The worker's /healthz on WORKER_HTTP_PORT; docker-compose.yml gives Bull Board its own check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WORKER_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM starts the graceful shutdown (running jobs get SHUTDOWN_TIMEOUT seconds).
STOPSIGNAL SIGTERM
CMD ["node", "bin/emp-worker.js", "start"]
