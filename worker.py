"""Entry point for Celery: `.venv/bin/celery -A worker worker --beat` (REDIS_URL names the broker)."""

from app import create_app
from app.worker_tasks import make_celery

celery = make_celery(create_app())
