# The vswitch appliance image.
# Run: docker run --privileged -v /dev/hugepages:/dev/hugepages \
#          -v "$PWD/my.yaml:/etc/vswitch/vswitch.yaml:ro" vswitch
# (--privileged: user-space drivers, namespaces and kernel ports need it.)
FROM debian:12-slim

# DL3008 (pin apt package versions): Debian 12 point releases replace the
# versions in the archive, so pins would break the build; the base tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vswitch
COPY pyproject.toml setup.py README.md ./
COPY vswitch/ vswitch/
COPY pipeline/ pipeline/
COPY drivers/ drivers/
COPY tui/ tui/
RUN python3 -m venv /opt/vswitch/venv \
    && /opt/vswitch/venv/bin/pip install --no-cache-dir . \
    && mkdir -p /etc/vswitch /run/vswitch

ENV PATH=/opt/vswitch/venv/bin:$PATH
ENTRYPOINT ["vswitch"]
CMD ["run", "/etc/vswitch/vswitch.yaml"]
