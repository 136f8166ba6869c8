"""`vcc-token admin dead-letters`: what the refresher could not do, and handling it.

    vcc-token admin dead-letters --queue-url URL list                      what failed, and why
    vcc-token admin dead-letters --queue-url URL redrive --function F      run each again
    vcc-token admin dead-letters --queue-url URL purge [--yes]             drop them all

The refresher's dead-letter queue (the stack's RefreshDeadLetterQueueUrl output) receives an
event Lambda gave up on after two retries, and a scheduled event EventBridge could not deliver.
The queue's alarm fires while any message is in it, and clears once they are handled: redriven
(each event is sent to the refresher again, synchronously, and removed once it succeeds) or
purged (a scheduled run is superseded by the next one anyway). Listing removes nothing. Needs the
stack's OperatorPolicy. Nothing here holds a token or a secret: events name keys, and errors are
the service's typed messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.session

from vcc_token_client.admin.support import (
    AdminError,
    aws_client,
    aws_error,
    refresher_client,
    run_refresher,
)
from vcc_token_client.errors import Exit
from vcc_token_contract.events import REFRESHER_TIMEOUT_SECONDS, RENEW, ROTATE

MAX_LISTED = 100  # messages one listing shows (a queue holds at most a few per failed run)
RECEIVE_ROUNDS = 20  # receives per listing: each answers up to 10 messages
# A redriven event: hidden from other readers while the refresher runs it (admin.support's
# run_refresher waits as long as it may run, and invokes it once)
REDRIVE_VISIBILITY = REFRESHER_TIMEOUT_SECONDS + 30
# What Lambda (ErrorCode, ErrorMessage) and EventBridge (ERROR_CODE, ERROR_MESSAGE) attach
REASON_ATTRIBUTES = ("ErrorCode", "ErrorMessage", "ERROR_CODE", "ERROR_MESSAGE")


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt: str
    sent_at: str
    event: object
    reason: str

    @property
    def what(self) -> str:
        """The event in a few words: which run or which key."""
        event = self.event
        if not isinstance(event, dict):
            return "an event that is not JSON"
        if isinstance(renew := event.get(RENEW), dict):
            return f"renewal of {renew.get('region')} {renew.get('scope')}"
        if isinstance(rotate := event.get(ROTATE), dict):
            return f"rotation of {rotate.get('region')}/{rotate.get('credential')}"
        return "a scheduled run"

    def line(self) -> str:
        return f"{self.sent_at}  {self.message_id[:8]}  {self.what}: {self.reason}"


def listed(
    queue_url: str, session: botocore.session.Session | None = None
) -> tuple[list[DeadLetter], int]:
    """The queue's messages, left in it (received with no visibility timeout), and about how
    many it holds, by its own count: a receive answers only some of them."""
    sqs = aws_client("sqs", session)
    found: dict[str, DeadLetter] = {}
    for message in _received(sqs, queue_url, visibility=0):  # may answer a message twice
        letter = _letter(message)
        found.setdefault(letter.message_id, letter)
        if len(found) >= MAX_LISTED:
            break
    return sorted(found.values(), key=lambda letter: letter.sent_at), _count(sqs, queue_url)


def _count(sqs: Any, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the queue {queue_url}") from None
    return sum(int(attributes.get("Attributes", {}).get(name, 0)) for name in names)


def redrive(
    queue_url: str, function: str, session: botocore.session.Session | None = None
) -> tuple[int, list[str]]:
    """Each message's event sent to the refresher again; removed when it succeeded. (redriven,
    what failed again and why)."""
    sqs, lambda_ = aws_client("sqs", session), refresher_client(session)
    redriven, failed = 0, []
    for message in _received(sqs, queue_url, visibility=REDRIVE_VISIBILITY):
        letter = _letter(message)
        why = (
            run_refresher(lambda_, function, letter.event)
            if isinstance(letter.event, dict)
            else "not a JSON object: nothing to redrive (purge it)"
        )
        if why is None:
            _delete(sqs, queue_url, letter)
            redriven += 1
        else:
            failed.append(f"{letter.what}: {why}")
    return redriven, failed


def purge(queue_url: str, session: botocore.session.Session | None = None) -> None:
    sqs = aws_client("sqs", session)
    try:
        sqs.purge_queue(QueueUrl=queue_url)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the queue {queue_url}", "purge") from None


def _received(sqs: Any, queue_url: str, visibility: int) -> Iterator[dict[str, Any]]:
    for _ in range(RECEIVE_ROUNDS):
        try:
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
                WaitTimeSeconds=0,
            )
        except Exception as exc:  # botocore's errors: say which, never the service's text
            raise aws_error(exc, f"the queue {queue_url}") from None
        messages = answer.get("Messages", [])
        if not messages:
            return
        yield from messages


def _letter(message: dict[str, Any]) -> DeadLetter:
    try:
        event: object = json.loads(message.get("Body", ""))
    except ValueError:
        event = None
    attributes = message.get("MessageAttributes", {})
    reasons = [
        str(attributes[name].get("StringValue", ""))[:300]
        for name in REASON_ATTRIBUTES
        if name in attributes
    ]
    sent = message.get("Attributes", {}).get("SentTimestamp")
    sent_at = (
        datetime.fromtimestamp(int(sent) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if str(sent).isdigit()
        else "?"
    )
    return DeadLetter(
        str(message.get("MessageId", "?")),
        str(message.get("ReceiptHandle", "")),
        sent_at,
        event,
        ": ".join(reasons) or "no reason attached",
    )


def _delete(sqs: Any, queue_url: str, letter: DeadLetter) -> None:
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=letter.receipt)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise AdminError(
            f"redriven, but not removed from the queue ({type(exc).__name__}): "
            "it will be listed again",
            Exit.UNREACHABLE,
        ) from None
