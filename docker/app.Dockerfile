# The app image: the reference stack on top of the deps image. One image serves every service (queen,
# hive + its workers, standalone worker, hub); the container's command picks the service:
#   node --import tsx stack/<svc>/main.ts
# Built by lib/docker/images.ts with a tar context it makes itself (no .dockerignore involved). The base has
# no shell, so only metadata and COPY instructions can be used here — no RUN.
ARG BASE
FROM ${BASE}
LABEL rbee-acceptance=1
# HOME on the tmpfs: the root filesystem is read-only at run time; tsx keeps its cache under the tmp dir.
ENV HOME=/tmp
WORKDIR /app
COPY stack /app/stack
# Numeric, so the image also works on a base that has no "rbee" user in /etc/passwd (e.g. node:20).
USER 10001:10001
CMD ["node", "--import", "tsx", "stack/hub/main.ts"]
