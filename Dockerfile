# tidings, built from this checkout: there is no release on the package index.
#   docker build -t tidings .
#   docker run --rm -p 6001:6001 -e TIDINGS_DEFAULT_APP_SECRET="$(openssl rand -hex 32)" tidings
# docker-compose.yml runs two nodes over Redis with it. Not built in tidings' own checks (the
# machine they run on has no container engine): see docs/cluster.md#docker.
FROM python:3.11-slim

# Only what the install needs, so editing tests or docs does not invalidate this layer.
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install --no-cache-dir --disable-pip-version-check -c constraints.txt '.[redis]' \
 && useradd --system --uid 10001 --create-home --home-dir /home/tidings tidings

# A container's port must listen on every interface to be published; the admin listener
# (metrics, admin API) stays on loopback unless you set TIDINGS_ADMIN_HOST and a password.
ENV TIDINGS_HTTP_HOST=0.0.0.0 \
    TIDINGS_HTTP_PORT=6001 \
    PYTHONUNBUFFERED=1
USER tidings
WORKDIR /home/tidings
EXPOSE 6001

# /ready is 503 while draining or while Redis is unreachable (docs/cluster.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('TIDINGS_HTTP_PORT', '6001'), timeout=2)"]

# SIGTERM (docker stop) drains: clients get 4200 and reconnect elsewhere.
STOPSIGNAL SIGTERM
CMD ["tidings", "serve"]
