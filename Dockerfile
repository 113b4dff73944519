# ddmsp operator image: `docker build -t ddmsp:0.1.0 .` then `helm install ddmsp helm/ddmsp`.
# Two stages: the builder resolves the pinned dependencies into a virtualenv and compiles
# the bytecode; the runtime stage copies only that virtualenv and runs as a numeric
# non-root user. Nothing is written at runtime (bytecode is precompiled, HOME is /tmp), so
# the chart's readOnlyRootFilesystem: true works; /tmp is an emptyDir.
# Pinned by tag and by the digest of the multi-architecture index (Renovate or Dependabot
# can bump both together). The digest was not pulled here (no registry access while it was
# written): it is the one several public Dockerfiles pin for this tag.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/ddmsp
COPY pyproject.toml README.md ./
COPY operator ./operator
# Every dependency is pinned (==) in pyproject.toml.
RUN /opt/ddmsp/bin/pip install --no-compile . \
    && /opt/ddmsp/bin/python -m compileall -q /opt/ddmsp

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/ddmsp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/ddmsp /opt/ddmsp
# A passwd entry for the runtime uid: getpass and whatever else looks the user up find one
# (kopf's identity crashed without it, issue 20; the operator no longer depends on it).
RUN groupadd --gid 10001 ddmsp \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin ddmsp
USER 10001:10001
EXPOSE 8080 8081 9090
ENTRYPOINT ["ddmsp"]
CMD ["run"]
