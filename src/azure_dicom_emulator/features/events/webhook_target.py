"""The ``webhook`` sink: Event Grid arrays or CloudEvents POSTed to an endpoint, after Event Grid's handshakes.

Before the first delivery to an endpoint, the Event Grid schema sends a
``Microsoft.EventGrid.SubscriptionValidationEvent`` (the endpoint echoes ``validationResponse``,
or later GETs ``validationUrl``), and the CloudEvents schema sends the CloudEvents webhook
``OPTIONS`` request (the endpoint answers ``WebHook-Allowed-Origin``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import aiohttp

from ...settings.event_sinks import WebhookSink
from ..timestamps import utc_text
from .envelope import in_schema
from .target import DeliveryFailed

SUCCESS = range(200, 205)
# Event Grid does not retry these: the events go to the dead letters at once.
NOT_RETRYABLE = {400, 413}
REQUEST_ORIGIN = "eventgrid.azure.net"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"


class WebhookTarget:
    """POSTs events to one URL with Event Grid's headers."""

    def __init__(self, config: WebhookSink, topic: str) -> None:
        self.config = config
        self.topic = topic
        self.url = str(config.url)
        self.endpoint = self.url
        self.batch_size = config.max_events_per_batch
        self.timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        self.session: aiohttp.ClientSession | None = None

    async def handshake(self, code: str, validation_url: str) -> bool:
        """Runs the schema's validation handshake.

        True when the endpoint validated at once; False when it answered 200 without the code and may
        validate later through ``validation_url`` (Event Grid schema only); DeliveryFailed otherwise.
        """
        if self.config.event_schema == "cloudevents":
            status, headers, _ = await self._send(
                "OPTIONS", headers={"WebHook-Request-Origin": REQUEST_ORIGIN, "WebHook-Request-Rate": "120"}
            )
            allowed = headers.get("webhook-allowed-origin", "")
            if status != 200 or allowed.strip() not in (REQUEST_ORIGIN, "*"):
                raise DeliveryFailed(
                    f"CloudEvents validation refused: status {status}, WebHook-Allowed-Origin '{allowed}'", status
                )
            return True
        event = {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": "",
            "data": {"validationCode": code, "validationUrl": validation_url},
            "eventType": VALIDATION_EVENT,
            "eventTime": utc_text(datetime.now(UTC)),
            "metadataVersion": "1",
            "dataVersion": "2",
        }
        status, _, body = await self._send(
            "POST", data=json.dumps([event]), headers=self._headers("SubscriptionValidation", 0, "application/json")
        )
        if status != 200:
            raise DeliveryFailed(f"subscription validation refused: status {status}", status)
        try:
            answer = json.loads(body)
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("validationResponse") == code

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """POSTs ``events`` as one request; 200-204 is success, 400 and 413 are not retried."""
        shaped = [in_schema(event, self.config.event_schema) for event in events]
        if self.config.event_schema == "cloudevents":
            if len(shaped) == 1:
                body, content_type = shaped[0], "application/cloudevents+json; charset=utf-8"
            else:
                body, content_type = shaped, "application/cloudevents-batch+json; charset=utf-8"
        else:
            body, content_type = shaped, "application/json"
        status, _, _ = await self._send(
            "POST", data=json.dumps(body), headers=self._headers("Notification", delivery_count, content_type)
        )
        if status not in SUCCESS:
            raise DeliveryFailed(f"endpoint answered {status}", status, retryable=status not in NOT_RETRYABLE)

    def _headers(self, event_type: str, delivery_count: int, content_type: str) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "aeg-event-type": event_type,
            "aeg-subscription-name": self.config.sink_name.upper(),
            "aeg-delivery-count": str(delivery_count),
            "aeg-data-version": "1",
            "aeg-metadata-version": "1",
        }

    async def _send(self, method: str, **kwargs) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lowercased names) and body of one request to the endpoint."""
        if self.session is None:  # Event Grid keeps no cookies: a jar would only cost each request a lookup
            self.session = aiohttp.ClientSession(timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar())
        try:
            async with self.session.request(method, self.url, **kwargs) as response:
                body = await response.read()
                return response.status, {name.lower(): value for name, value in response.headers.items()}, body
        except TimeoutError as exc:
            raise DeliveryFailed(f"no answer within {self.config.timeout_seconds:g} s") from exc
        except aiohttp.ClientError as exc:
            raise DeliveryFailed(f"cannot reach the endpoint: {exc or type(exc).__name__}") from exc

    async def close(self) -> None:
        """Closes the connections."""
        if self.session is not None:
            await self.session.close()
