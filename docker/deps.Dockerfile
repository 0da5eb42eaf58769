# The dependencies image: node_modules and package.json on top of the base. Kept apart from the app image
# so that editing stack/ neither re-sends 150 MB of node_modules to the engine nor rebuilds this layer.
# Built by lib/docker/images.ts with a tar context it makes itself. The base has no shell: no RUN here.
ARG BASE
FROM ${BASE}
LABEL rbee-acceptance=1
WORKDIR /app
COPY node_modules /app/node_modules
COPY package.json /app/package.json
