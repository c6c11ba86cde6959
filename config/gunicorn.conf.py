"""gunicorn settings for citytiles: threaded workers, explicit timeouts, our own request log."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Threaded workers: most time goes to waiting on upstreams and channels, not the CPU.
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# A worker silent for this long is killed; upstream calls have their own, shorter timeouts.
timeout = 30
graceful_timeout = 20
keepalive = 5
# No preload: each worker builds its own database engine, so no pool crosses a fork.
preload_app = False
# citytiles logs one structured line per request itself; gunicorn's access log would double it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
