# syntax=docker/dockerfile:1
#
# cdn-edge in a container: built from this checkout in a Rust image, run
# from a slim Debian image as an unprivileged user, serving the bundled
# static/ with the bundled configuration (config.toml, embedded in the
# binary) on port 8080.
#
#   docker build --build-arg CDN_EDGE_GIT_COMMIT=$(git rev-parse --short HEAD) -t cdn-edge .
#   docker run --rm -p 8080:8080 cdn-edge
#   docker run --rm -p 8080:8080 -v "$PWD/site:/srv/cdn-edge/static:ro" cdn-edge
#   docker run --rm -p 8080:8080 -v "$PWD/edge.toml:/etc/cdn-edge/config.toml:ro" \
#       cdn-edge serve --config /etc/cdn-edge/config.toml --listen 0.0.0.0:8080
#   docker run --rm -v "$PWD/edge.toml:/etc/cdn-edge/config.toml:ro" \
#       cdn-edge check --config /etc/cdn-edge/config.toml

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# .git is not sent (.dockerignore): pass the commit for `--version`, else
# it says "unknown".
ARG CDN_EDGE_GIT_COMMIT=
ENV CDN_EDGE_GIT_COMMIT=${CDN_EDGE_GIT_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cdn-edge \
    && install -m 0755 target/release/cdn-edge /usr/local/bin/cdn-edge

FROM debian:${DEBIAN_RELEASE}-slim
RUN groupadd --system --gid 10001 cdn-edge \
    && useradd --system --uid 10001 --gid cdn-edge --no-create-home \
        --home-dir /srv/cdn-edge --shell /usr/sbin/nologin cdn-edge \
    && mkdir -p /etc/cdn-edge /var/cache/cdn-edge \
    && chown cdn-edge:cdn-edge /var/cache/cdn-edge
COPY --from=build /usr/local/bin/cdn-edge /usr/local/bin/cdn-edge
# The served files belong to root: the server only reads them.
COPY static/ /srv/cdn-edge/static/
# The bundled config, for reference and as a starting point; without
# --config the binary uses its embedded copy of the same file.
COPY config.toml /etc/cdn-edge/config.toml.example
WORKDIR /srv/cdn-edge
USER cdn-edge:cdn-edge
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/cdn-edge"]
# The bundled config serves ./static on 127.0.0.1:8080; in a container it
# must listen on every interface to be reachable through -p.
CMD ["serve", "--listen", "0.0.0.0:8080"]
