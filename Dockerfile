# TimeSide: multi-stage image. Build: docker build -t timeside .
# Run the demo:  docker run --rm timeside demo --out /data/demo
# Analyse files: docker run --rm -v "$PWD:/data" timeside analyze /data/music.flac -a level
# Serve:         docker run --rm -p 8000:8000 -v timeside-data:/data timeside serve --listen 0.0.0.0:8000 --data-dir /data

FROM rust:1.95-bookworm AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      pkg-config cmake libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libhdf5-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Exactly what the build needs (scripts/check-dockerfile.sh builds from these lines alone):
# the manifest names the benches, the binary embeds config/timeside.toml, pipelines/, the
# database migrations and the web player (web/, without its test tools in node_modules).
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src src
COPY pipelines pipelines
COPY config config
COPY web web
COPY migrations migrations
COPY benches benches
RUN cargo build --release --locked && strip target/release/timeside

FROM debian:bookworm-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-libav libhdf5-103-1 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home timeside
COPY --from=build /src/target/release/timeside /usr/local/bin/timeside
COPY pipelines /usr/share/timeside/pipelines
COPY config /usr/share/timeside/config
USER timeside
WORKDIR /data
ENTRYPOINT ["timeside"]
CMD ["--help"]
