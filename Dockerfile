# AppOS as one image (supervisord runs every part). The operations issue finishes this file;
# it cannot be built on machines without a registry, so CI does not build it yet.
#   docker build -t appos .
#   docker run -d -p 8080:8080 -v /var/run/docker.sock:/var/run/docker.sock -v appos:/appos/data appos
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv make redis-server docker.io ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /appos/app
COPY . .
RUN make install dashboard

ENV APPOS_DATA=/appos/data \
    APPOS_HOST=0.0.0.0 \
    APPOS_PORT=8080
EXPOSE 8080
VOLUME /appos/data
CMD [".venv/bin/python", "-m", "services.launcher"]
