# The mlmw application image: one image for web (gunicorn), the Celery worker, Celery beat and the
# one-shot migration; docker-compose.yml picks the command. No secret is baked in: every setting comes
# from the environment at run time (secrets as NAME_FILE, see mlmw/env.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app

# The same uv as the Makefile, installing exactly what uv.lock pins (hashes checked), without the
# development group (pytest, ruff, playwright). Dependencies first: this layer is reused until the
# lock changes.
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-cache

COPY . .

# Static files are collected (hashed and compressed by WhiteNoise) at build time. The key below exists
# only for this command, which needs settings to load; it is not in the image's environment.
RUN SECRET_KEY=collectstatic-only-not-a-secret DEBUG=false \
    python manage.py collectstatic --noinput --verbosity 0

# Run as an unprivileged user; it may write only var/ (beat's schedule) and media/.
RUN useradd --system --uid 10001 --no-create-home --home-dir /app mlmw \
    && mkdir -p /app/var /app/media \
    && chown mlmw /app/var /app/media
USER mlmw

EXPOSE 8000
CMD ["gunicorn", "mlmw.wsgi", "--config", "python:mlmw.gunicorn_conf", "--bind", "0.0.0.0:8000"]
