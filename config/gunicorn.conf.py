"""gunicorn settings for citytiles: threaded workers, explicit timeouts, our own request log."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Threaded workers: most time goes to waiting on upstreams and channels, not the CPU. Ours answer
# what gunicorn refuses itself (request line or headers too long, not HTTP) in the JSON error shape.
worker_class = "app.gunicorn_worker.JSONErrorWorker"
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Sixteen threads, twice an upstream connection's default bulkhead (8 calls in flight per worker):
# one upstream, however slow or hung, holds at most half of a worker's threads, and health checks,
# tiles and other cities keep the rest.
threads = int(os.environ.get("WEB_THREADS", "16"))
# Connections one worker holds at once (being served, or kept alive between requests). gthread
# workers accept greedily: without a bound, the first worker to wake takes every connection of a
# burst (a load balancer's pool, a benchmark's 32) and the other workers sit idle for as long as
# those connections live. One and a half times the threads keeps a worker's threads busy with a
# few kept alive besides, and leaves the rest of a burst to the other workers; connections beyond
# every worker's bound wait in the listen queue.
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", str(threads + threads // 2)))
# A worker silent for this long is killed; upstream calls have their own, shorter timeouts.
timeout = 30
graceful_timeout = 20
keepalive = 5
# What gunicorn reads of a request before refusing it (414 or 431, answered by the worker above).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# No preload: each worker builds its own database engine, so no pool crosses a fork.
preload_app = False
# citytiles logs one structured line per request itself; gunicorn's access log would double it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn 27 opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): a second
# instance on the machine would take it over, and stopping either would delete the other's. Off
# unless CONTROL_SOCKET names a path of this instance's own.
control_socket = os.environ.get("CONTROL_SOCKET", "gunicorn.ctl")
control_socket_disable = "CONTROL_SOCKET" not in os.environ
