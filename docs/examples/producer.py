"""A Python producer for emp-worker, with the official `bullmq` package (3.x for BullMQ 6).

Run: REDIS_URL=redis://127.0.0.1:6379 QUEUE_PREFIX=bull python3 docs/examples/producer.py
"""
import asyncio
import os

from bullmq import Job, Queue


async def main() -> int:
    queue = Queue(
        "simulation",  # the queue name is the connector's job type
        {
            "connection": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
            "prefix": os.environ.get("QUEUE_PREFIX", "bull"),  # the worker's QUEUE_PREFIX
        },
    )
    try:
        job = await queue.add(
            "simulation",
            {"steps": 3, "duration_ms": 600, "result": {"image": "s3://bucket/cat.png"}},
            {"attempts": 3, "backoff": {"type": "exponential", "delay": 5000}},
        )
        print(f"enqueued job {job.id}")
        while True:
            state = await queue.getJobState(job.id)
            current = await Job.fromId(queue, job.id)
            if current is not None and isinstance(current.progress, dict):
                print(f"{state}: {current.progress.get('progress')}% {current.progress.get('message')}")
            if state in ("completed", "failed"):
                break
            await asyncio.sleep(0.5)
        if state == "failed":
            print(f"failed: {current.failedReason}")  # "<ERR_CODE>: <message>"
            return 1
        print(f"completed: {current.returnvalue['output']}")
        return 0
    finally:
        await queue.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
