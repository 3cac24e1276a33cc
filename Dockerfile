# The tshub fine-tune service: `tshub serve` (HTTP API + job worker). CUDA-capable PyTorch base: jobs train on
# the GPU when the container gets one (docker run --gpus all), on the CPU otherwise.
#   docker build -t tshub-service .
#   docker run -p 8000:8000 -v tshub-data:/data tshub-service
#   docker exec <container> tshub token create --name alice
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app \
    TSHUB_HOME=/data/tshub \
    HF_HOME=/data/huggingface

WORKDIR /app
# Dependencies first (a cached layer while only the code changes); the base image's torch satisfies the pin.
COPY pyproject.toml README.md ./
RUN mkdir tshub && touch tshub/__init__.py && pip install ".[server,cluster]" && pip uninstall -y tshub && rm -r tshub
# Then the code, installed in place so the repository's zoo/ is found beside the package.
COPY . .
RUN pip install --no-deps -e .

RUN useradd --create-home --uid 10001 tshub && mkdir -p /data && chown tshub:tshub /data
USER tshub
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["tshub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
