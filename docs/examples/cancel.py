"""Cancel an emp-worker job from Python with nothing but redis-py (docs/producers.md, "Cancel").

Run: REDIS_URL=redis://127.0.0.1:6379 QUEUE_PREFIX=bull python3 docs/examples/cancel.py <queue> <job id> [reason]
Prints {"jobId", "state"} like the board's cancel endpoint; exit 0 when a cancel was sent.
"""
import json
import os
import sys

import redis

MARKER_TTL_SECONDS = 24 * 3600


def job_state(r: redis.Redis, prefix: str, queue: str, job_id: str) -> str:
    base = f"{prefix}:{queue}"
    if not r.exists(f"{base}:{job_id}"):
        return "not-found"
    if r.zscore(f"{base}:completed", job_id) is not None:
        return "completed"
    if r.zscore(f"{base}:failed", job_id) is not None:
        return "failed"
    if job_id.encode() in r.lrange(f"{base}:active", 0, -1):
        return "active"
    return "waiting"  # waiting, delayed or prioritized: not started yet


def cancel(r: redis.Redis, prefix: str, queue: str, job_id: str, reason: str) -> dict:
    state = job_state(r, prefix, queue, job_id)
    if state in ("not-found", "completed", "failed"):
        return {"jobId": job_id, "state": state}
    # The marker reaches a worker that picks the job up later; the message reaches the one running it now.
    r.set(f"{prefix}:emp:cancelled:{queue}:{job_id}", reason, ex=MARKER_TTL_SECONDS)
    r.publish(f"{prefix}:emp:cancel", json.dumps({"queue": queue, "jobId": job_id, "reason": reason}))
    return {"jobId": job_id, "state": "cancelling", "was": state}


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    queue, job_id = sys.argv[1], sys.argv[2]
    reason = sys.argv[3] if len(sys.argv) > 3 else "cancelled from Python"
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    try:
        outcome = cancel(r, os.environ.get("QUEUE_PREFIX", "bull"), queue, job_id, reason)
    finally:
        r.close()
    print(json.dumps(outcome))
    return 0 if outcome["state"] == "cancelling" else 1


if __name__ == "__main__":
    sys.exit(main())
