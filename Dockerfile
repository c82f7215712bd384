# syntax=docker/dockerfile:1
# One image for every process of the system; the command chooses the process:
#   docker run IMAGE ticketing-gateway      (or ticketing-users, ticketing-tickets, … see README)
#   docker run IMAGE                        (`ticketing run`: every process in one container)
ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: a virtual environment with the project and its dependencies -------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies first, in their own layer, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install -r requirements.txt
# Then the project itself, non-editable: the venv must not point back into /src.
COPY domain ./domain
COPY services ./services
COPY command_api ./command_api
COPY query_api ./query_api
COPY projections ./projections
COPY protos ./protos
RUN pip install --no-deps . \
 && ticketing --help > /dev/null

# ---- runtime: the venv on a clean base, run as an unprivileged user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TICKETING_ENV=production \
    TICKETING_HOST=0.0.0.0 \
    TICKETING_GRPC_LISTEN_HOST=0.0.0.0 \
    TICKETING_DATA_DIR=/var/lib/ticketing
# A fixed numeric id, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 ticketing \
 && useradd --system --uid 10001 --gid ticketing --home-dir /var/lib/ticketing --create-home \
        --shell /usr/sbin/nologin ticketing
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/ticketing
# gateway, sandbox, users, tickets, payments, notifications, metrics
EXPOSE 8000 8001 50051 50052 50053 50054 9100
CMD ["ticketing", "run"]
