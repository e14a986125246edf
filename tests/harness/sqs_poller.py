"""A local stand-in for Lambda's SQS event source mapping, for the demo and the benchmarks.

Receives up to ten messages from a queue on the emulator, hands them to a function running under
``cargo lambda watch`` as an SQS event (``cargo lambda invoke``, so through the Lambda Runtime API),
deletes the records the answer does not name in ``batchItemFailures`` and leaves the others to come
back after their visibility timeout (the queue's redrive policy dead-letters a record that keeps
failing). Stops when the queue stayed empty for ``--quiet`` seconds (delayed continuations come back
within it). Each answer is written to ``<out>/<prefix>-<n>.json``; the last line printed is a JSON
summary: batches, records, failed records, invocations.

    sqs_poller.py --endpoint URL --queue-url URL --function profile-scan --invoke-port N \\
        --cargo-lambda PATH --out DIR --prefix queue [--quiet 3] [--limit 600]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import boto3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--queue-url", required=True)
    p.add_argument("--function", required=True)
    p.add_argument("--invoke-port", required=True)
    p.add_argument("--cargo-lambda", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", default="queue")
    p.add_argument("--quiet", type=float, default=3.0)
    p.add_argument("--limit", type=float, default=600.0)
    p.add_argument("--visibility", type=int, default=5)
    a = p.parse_args()

    sqs = boto3.client("sqs", endpoint_url=a.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = sqs.get_queue_attributes(QueueUrl=a.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    out = Path(a.out)
    started = last_work = time.time()
    batches = records = failed_records = 0
    while time.time() - started < a.limit and time.time() - last_work < a.quiet:
        got = sqs.receive_message(QueueUrl=a.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=a.visibility)
        messages = got.get("Messages", [])
        if not messages:
            time.sleep(0.2)
            continue
        last_work = time.time()
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                              "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in messages]}
        answer = invoke(a.cargo_lambda, a.function, a.invoke_port, event)
        last_work = time.time()
        batches += 1
        records += len(messages)
        (out / f"{a.prefix}-{batches}.json").write_text(json.dumps(answer))
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        failed_records += len(failed)
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=a.queue_url, ReceiptHandle=m["ReceiptHandle"])
    print(json.dumps({"batches": batches, "records": records, "failedRecords": failed_records,
                      "seconds": round(time.time() - started, 1)}))


def invoke(cargo_lambda: str, function: str, port: str, event: dict) -> dict:
    """One invocation through the Lambda Runtime API; retries while the watcher starts."""
    for _ in range(120):
        run = subprocess.run([cargo_lambda, "lambda", "invoke", function, "--invoke-port", port,
                              "--output-format", "json", "--data-ascii", json.dumps(event)],
                             capture_output=True, text=True)
        if run.returncode == 0:
            return json.loads(run.stdout)
        if "refused" not in run.stderr and "error sending request" not in run.stderr:
            sys.exit(f"invoke failed: {run.stderr}")
        time.sleep(0.5)
    sys.exit("the function never answered")


if __name__ == "__main__":
    main()
