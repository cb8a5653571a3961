# One image for every ndxp-sim process; docker-compose.yml picks the command per service.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NDXP_STATE_DIR=/data
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY gateway ./gateway
COPY connectors ./connectors
COPY mock_services ./mock_services
COPY ndxp_sim ./ndxp_sim
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && mkdir -p /data
VOLUME ["/data"]
ENTRYPOINT ["ndxp-sim"]
CMD ["--help"]
