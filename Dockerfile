# One image for every ndxp-sim process; docker-compose.yml picks the command per service
# (`ndxp-sim serve-mock NAME`, `ndxp-sim serve-gateway`, `ndxp-sim serve-hop lgsp|vdxp`, or
# `locust -f loadtests/...`).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NDXP_STATE_DIR=/data
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY gateway ./gateway
COPY hops ./hops
COPY connectors ./connectors
COPY mock_services ./mock_services
COPY ndxp_config ./ndxp_config
COPY ndxp_sim ./ndxp_sim
COPY liveview ./liveview
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && mkdir -p /data
# The locustfiles import `loadtests` from the working directory (/app), as from a checkout.
COPY loadtests ./loadtests
VOLUME ["/data"]
EXPOSE 8000 8101 8102 8103 8104 8201 8202 8089 8090
ENTRYPOINT ["ndxp-sim"]
CMD ["--help"]
