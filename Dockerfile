# Horizon Publisher operator image.
# Build stage: make a wheel of the project (and of its dependencies) with the full toolchain.
# Runtime stage: UBI 9 minimal Python, the wheels installed, no build tools, non-root, any UID (OpenShift).
FROM registry.access.redhat.com/ubi9/python-311:latest AS build
USER 0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY crds ./crds
RUN python3 -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM registry.access.redhat.com/ubi9/ubi-minimal:latest
LABEL name="horizon-publisher" \
      summary="Publishes edge services to Open Horizon from Kubernetes custom resources" \
      description="Operator reconciling EdgeServiceImage and EdgePublication resources." \
      io.k8s.display-name="Horizon Publisher" \
      io.k8s.description="Operator reconciling EdgeServiceImage and EdgePublication resources." \
      io.openshift.tags="open-horizon,edge,operator" \
      vendor="Horizon Publisher authors" \
      version="0.1.0"
RUN microdnf install -y --nodocs python3.11 python3.11-pip && microdnf clean all
COPY --from=build /wheels /wheels
RUN python3.11 -m pip install --no-cache-dir --no-index --find-links /wheels horizon-publisher \
    && rm -rf /wheels
# OpenShift runs the container with an arbitrary UID in group 0: nothing here needs to be writable.
USER 1001
EXPOSE 8080
ENTRYPOINT ["horizon-publisher", "run"]
