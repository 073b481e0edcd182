# The single kubevirtbmc image: `kubevirtbmc controller` and `kubevirtbmc agent` are one binary.
# Builds from a clean checkout:  docker build -t ghcr.io/kubevirtbmc/kubevirtbmc:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY deploy ./deploy
# Non-root (the Deployments also enforce runAsNonRoot); the UDP/TCP ports used are all above 1024.
USER 65532:65532
EXPOSE 10623/udp 10080/tcp 10443/tcp 8080/tcp 8081/tcp
ENTRYPOINT ["node", "/app/bin/kubevirtbmc.js"]
CMD ["--help"]
