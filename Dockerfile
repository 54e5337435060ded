# syntax=docker/dockerfile:1
# The Way: one image for every process role. The entrypoint is the CLI; the command picks the role:
#   serve (default: web + worker in one process), web, worker, migrate, create-user.
# Node 24, the major version the project pins through the `node` npm package.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only (sharp's prebuilt libvips comes from npm, nothing is compiled).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Everything, to build the browser app.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./web
COPY src ./src
COPY tsconfig.json ./
RUN npm run build:web

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/theway
WORKDIR /app
# Code and dependencies belong to root and are read-only for the process; only DATA_DIR is writable
# (uploads are streamed to DATA_DIR/tmp; with S3_BUCKET unset it also holds the files and SQLite).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
COPY --from=build /app/web/dist ./web/dist
RUN mkdir -p /var/lib/theway && chown node:node /var/lib/theway
USER node
EXPOSE 3000
# The web roles answer /api/health (200 when the database answers too). The worker role has no
# HTTP server: compose.yaml disables this check for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --start-interval=2s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/theway.js"]
CMD ["serve"]
