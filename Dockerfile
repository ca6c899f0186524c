# One image for every sessionflow process; the command picks which (edge, api, worker, sink).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sessionflow sessionflow
COPY producers producers
COPY streams streams
COPY sinks sinks
COPY schemas schemas
COPY readapi readapi
COPY sessionflow_cli sessionflow_cli
RUN pip install --no-cache-dir .
ENV SESSIONFLOW_EDGE_HOST=0.0.0.0 SESSIONFLOW_API_HOST=0.0.0.0 SESSIONFLOW_OPS_HOST=0.0.0.0
ENTRYPOINT ["sessionflow"]
