# The app image: the reference stack's bundles on top of the deps image. One image serves every service
# (queen, hive + its workers, standalone worker, hub); the container's command picks the service:
#   node dist/<queen|hive|worker|hub>.mjs
# Built by lib/docker/images.ts with a tar context it makes itself (no .dockerignore involved): the context
# holds the bundles of lib/stack/bundles.ts renamed to dist/. The base has no shell, so only metadata and COPY
# instructions can be used here — no RUN.
ARG BASE
FROM ${BASE}
LABEL rbee-acceptance=1
# HOME on the tmpfs: the root filesystem is read-only at run time.
ENV HOME=/tmp
WORKDIR /app
COPY dist /app/dist
# Numeric, so the image also works on a base that has no "rbee" user in /etc/passwd (e.g. node:20).
USER 10001:10001
CMD ["node", "dist/hub.mjs"]
