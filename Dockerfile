# Driver service image. Build: docker build -t driver-service .
# Node 22 LTS (.nvmrc), pinned to a release so that a rebuild gets the same runtime;
# move it forward deliberately, e.g. --build-arg NODE_IMAGE=node:22.24.0-bookworm-slim.
ARG NODE_IMAGE=node:22.23.3-bookworm-slim

# --- Build stage: full dependencies, TypeScript compiled to dist/ ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# The build copies the SQL routine files (src/**/*.sql) and the tracking page (src/tracking/page/) into dist/
# with scripts/copy-sql.mjs; the page's Leaflet comes from node_modules at run time (a production dependency).
COPY scripts ./scripts
RUN npm run build

# --- Runtime stage: production dependencies and compiled code only ---
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# The image runs plain node, so PM2 (an optional dependency, for hosts that run it) stays out.
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY --from=build /app/dist ./dist
# Lets `npm run secret:generate` work inside the container.
COPY scripts ./scripts
# The embedded database (used when no PostgreSQL is configured) lives in ./data,
# which the unprivileged user must be able to write. Mount a volume here to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3001
# Readiness: healthy while it can serve, unhealthy while it drains. Slim images have no curl; Node's fetch does the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3001) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same heap budget as `npm start` and the PM2 file.
CMD ["node", "--max-old-space-size=192", "dist/src/main.js"]
