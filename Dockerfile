# The single kubevirtbmc image: `kubevirtbmc controller` and `kubevirtbmc agent` are one binary.
# Its name is package.json's config.image, tagged with package.json's version (docs/release.md):
#   docker build -t "$(node -p "require('./package.json').config.image"):$(node -p "require('./package.json').version")" .
# .ci/run reproduces these steps without a Docker engine (test/e2e/image.test.ts): keep them plain
# (ARG, FROM, WORKDIR, ENV, COPY, RUN, USER, EXPOSE, ENTRYPOINT, CMD in JSON form).
ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# packages/ (the cluster simulator, a workspace) is not in the build context, so npm skips it.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && find dist -name '*.d.ts' -delete && find dist -name '*.map' -delete

FROM node:${NODE_VERSION}-trixie-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# Non-root, and nothing is written at run time: the Deployments set runAsNonRoot, runAsUser 65532
# and readOnlyRootFilesystem. The ports used are all above 1024.
USER 65532:65532
EXPOSE 10623/udp 10080/tcp 10443/tcp 8080/tcp 8081/tcp
ENTRYPOINT ["node", "/app/bin/kubevirtbmc.js"]
CMD ["--help"]
