"""The kernel's only table: the leases of the running task workers (core/task_leases.py).

It lives here because the worker is part of the kernel (core/worker.py) and every app's tasks
run under it; no domain app owns it.
"""

from __future__ import annotations

from django.db import models


class TaskWorker(models.Model):
    """A task worker that is running, or was until its lease ran out.

    Its heartbeat thread sets `beat_at` from the database's clock every few seconds; a worker
    whose `beat_at` is older than TEAMLINE["TASK_LEASE_SECONDS"] is dead, and the tasks it was
    running (`DBTaskResult.worker_ids[-1]` is its id) are given back to the queue by any other
    worker. One clock (the database's) decides, so clock skew between hosts does not matter.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    beat_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["beat_at"])]

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"
