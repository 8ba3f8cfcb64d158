# syntax=docker/dockerfile:1
#
# The one PCM image (DESIGN.md section 1: one npm package, one `pcm` binary, subcommands).
# The operator Deployment, the gateway StatefulSet and the discovery Deployment all run it
# with a different first argument: `operator`, `gateway`, `discovery`.
#
# There is no compile step: bin/pcm.js is a tsx launcher that runs the TypeScript sources
# directly, so tsx is a production dependency and the image ships .ts files.
#
# This file is checked without a Docker engine by test/image/ (lint + a file-layout build that
# follows these instructions); see docs/image.md. Keep every RUN in the forms that test knows.
#
# Base images: the full bookworm image has python3/make/g++ for native modules
# (better-sqlite3, couchbase) should a prebuilt binary be unavailable; the runtime image is
# the slim variant of the same Debian release, so the compiled .node files load there (same glibc).
# Its bundled npm (10.x) is the one that installs this lockfile: npm 11 rejects it because
# couchbase 4.7.1 lists an optional win32 package that was never published (docs/image.md).
ARG NODE_VERSION=20.20

# ---- build: all dependencies, sources, type check (a failing type check fails the image) ----
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc --noEmit -p .

# ---- prod-deps: production dependencies only (no vitest, typescript, fast-check, @types) ----
FROM node:${NODE_VERSION}-bookworm AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG PCM_VERSION=0.1.0
LABEL org.opencontainers.image.title="pcm" \
      org.opencontainers.image.description="PCM: cloud messaging for payment terminals (gateway, discovery, operator)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${PCM_VERSION}"
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and are not writable by the runtime user: the pods run with a
# read-only root filesystem anyway, and nothing here should ever be modified at run time.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json /app/package-lock.json /app/tsconfig.json ./
# Runtime sources only (tests, benches' results, charts and docs stay out; see .dockerignore).
COPY --from=build /app/bin ./bin
COPY --from=build /app/common ./common
COPY --from=build /app/protocol ./protocol
COPY --from=build /app/gateway ./gateway
COPY --from=build /app/discovery ./discovery
COPY --from=build /app/operator ./operator
COPY --from=build /app/client ./client
# `pcm bench` (load generators and baselines run from the image too; results go to a mounted dir).
COPY --from=build /app/bench ./bench
# Numeric uid/gid (the base image's `node` user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# Liveness is role-specific (gateway :8080/healthz, discovery and operator health ports), so the
# image declares none; Kubernetes probes come from the chart and the operator (docs/image.md).
HEALTHCHECK NONE
ENTRYPOINT ["node", "bin/pcm.js"]
CMD ["--help"]
