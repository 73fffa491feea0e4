"""kafka-python clients that wait for a broker a set time, and leave nothing running when
none answers.

kafka-python 3.0.12 connects in the constructor (trying again until `bootstrap_timeout_ms`,
30 s by default). When no broker answers, the constructor raises but leaves the client's IO
thread running: a caller that tries again (the HTTP intake on every request, a worker waiting
for its broker) would gather one thread per attempt. `connected` hands kafka-python a factory
for its network client and closes what that made when the constructor fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kafka.net.compat import KafkaNetClient

from services.runtime.settings import bootstrap_servers

Client = TypeVar("Client")


def connected(
    client: Callable[..., Client], broker_url: str, timeout_s: float = 30.0, **config: Any
) -> Client:
    """`client` (KafkaProducer, KafkaConsumer, KafkaAdminClient) made with `config` and
    connected to `broker_url`; raises kafka-python's KafkaTimeoutError ("Unable to
    bootstrap") when no broker answered within `timeout_s`."""
    made: list[KafkaNetClient] = []

    def network_client(**network_config: Any) -> KafkaNetClient:
        made.append(KafkaNetClient(**network_config))
        return made[-1]

    try:
        return client(
            bootstrap_servers=bootstrap_servers(broker_url),
            bootstrap_timeout_ms=max(1, int(timeout_s * 1000)),
            kafka_client=network_client,
            **config,
        )
    except BaseException:
        for network in made:
            network.close()
        raise
