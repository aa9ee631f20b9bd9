# syntax=docker/dockerfile:1
# Horizon Publisher operator image (docker build / podman build / buildah bud -t IMAGE .).
#
# Build stage: UBI 9 Python 3.12 with its toolchain makes wheels of the project and its dependencies.
# Runtime stage: UBI 9 minimal Python 3.12; the wheels are bind-mounted from the build stage (never a
# layer of the final image), installed into a virtualenv with --no-index, no compiler, no dnf.
# Runs as UID 1001 or, on OpenShift, any UID in group 0: nothing in the image needs to be writable
# (the Deployment mounts an emptyDir at /tmp and sets readOnlyRootFilesystem).
#
# Base images are pinned by tag and digest; refresh both together (tests/deploy/test_dockerfile.py).

FROM registry.access.redhat.com/ubi9/python-312:9.7-1778000623@sha256:21739f35258f21e23a7e02e79c763f2a69e605416fedd54b6ec9c5ef68fd1f43 AS build
WORKDIR /opt/app-root/src
# Only what the wheel needs (setuptools writes egg-info next to the sources, hence the ownership).
COPY --chown=1001:0 pyproject.toml README.md ./
COPY --chown=1001:0 operator ./operator
RUN python3.12 -m pip wheel --no-cache-dir --wheel-dir /tmp/wheels .

FROM registry.access.redhat.com/ubi9/python-312-minimal:9.7-1777884225@sha256:13c75e682cd460da9ba76cc7ebb6722bd1cb121c1c8e19e54df5c7d820a0545e
LABEL name="horizon-publisher" \
      version="0.1.0" \
      summary="Publishes edge services to Open Horizon from Kubernetes custom resources" \
      description="Kubernetes/OpenShift operator reconciling EdgeServiceImage (registry side: route, project, service account, token, credentials, digests) and EdgePublication (Exchange side: signed deployment, service, key, pattern, deployment policy)." \
      io.k8s.display-name="Horizon Publisher" \
      io.k8s.description="Operator reconciling EdgeServiceImage and EdgePublication resources to publish edge services to Open Horizon." \
      io.openshift.tags="open-horizon,edge,operator,registry" \
      io.openshift.expose-services="8080:healthz,9090:metrics" \
      maintainer="Horizon Publisher authors" \
      vendor="Horizon Publisher authors" \
      org.opencontainers.image.title="horizon-publisher" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 0
# Root-owned (group 0), world-readable: any UID can run it, none can change it.
RUN --mount=type=bind,from=build,source=/tmp/wheels,target=/tmp/wheels \
    python3.12 -m venv /opt/horizon-publisher \
    && /opt/horizon-publisher/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels horizon-publisher \
    && /opt/horizon-publisher/bin/pip uninstall --yes pip
USER 1001
EXPOSE 8080 9090
ENTRYPOINT ["/opt/horizon-publisher/bin/horizon-publisher", "run"]
# Clear the base image's CMD: `docker run IMAGE` must mean `horizon-publisher run` with no extra argument.
CMD []
