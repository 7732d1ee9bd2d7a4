# Production image: the API, worker and heartbeat processes share it.
FROM node:20-bookworm-slim AS dashboard
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
WORKDIR /app
ENV PYTHONUNBUFFERED=1 ARISTOBOT_DATA_DIR=/data
COPY pyproject.toml README.md ./
COPY accounts accounts
COPY activities activities
COPY api api
COPY assistant assistant
COPY config config
COPY db db
COPY exchanges exchanges
COPY market market
COPY sandbox sandbox
COPY strategies strategies
COPY trading trading
COPY tradingview tradingview
COPY workers workers
COPY workflows workflows
RUN pip install --no-cache-dir .
COPY --from=dashboard /ui/dist ui/dist
RUN useradd --system --home /data aristobot && mkdir -p /data && chown aristobot /data
USER aristobot
EXPOSE 8000
CMD ["aristobot", "api", "--host", "0.0.0.0"]
