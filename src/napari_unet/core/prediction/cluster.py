"""The Dask cluster a distributed prediction runs on: :func:`start_client` connects to a
running scheduler (an address or a scheduler file) or starts a local cluster (``"local:N"``),
and :func:`check_scheduler` makes sure, within bounded time, that a Dask scheduler answers at
an address before anything is written (:func:`scheduler_address` says which address a
``scheduler`` argument names).

Part of :mod:`napari_unet.core.prediction.distributed` (which re-exports every name here).
``distributed`` is imported only when a client is started.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["CONNECT_TIMEOUT", "HANDSHAKE_TIMEOUT", "check_scheduler", "scheduler_address",
           "start_client"]


def start_client(scheduler: Any, *, threads_per_worker: int = 1,
                 connect_timeout: float = 30.0) -> tuple[Any, Any, int | None]:
    """A Dask client for ``scheduler``.

    Returns ``(client, cluster, n_local_workers)``; ``cluster`` is the LocalCluster started
    here (to close at the end) or None.

    Raises
    ------
    ValueError
        If ``scheduler`` is not ``"local:N"`` with N >= 1, an address or a Client.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, None, None
    text = str(scheduler).strip()
    if text.startswith("local"):
        _, _, count = text.partition(":")
        try:
            n = int(count) if count else max(1, (os.cpu_count() or 2) // 2)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(
                f"scheduler={scheduler!r}: expected 'local:N' with N >= 1 workers, an address "
                "such as 'tcp://host:8786', or a scheduler file path"
            )
        cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster, n
    if text.endswith(".json"):
        if not Path(text).is_file():
            raise ValueError(f"scheduler file {text!r} does not exist")
        kwargs: dict[str, Any] = {"scheduler_file": text}
    elif "://" in text or ":" in text:
        kwargs = {"address": text}
    else:
        raise ValueError(
            f"scheduler={scheduler!r}: expected 'local:N', an address such as "
            "'tcp://host:8786', or a scheduler file (.json)"
        )
    address = check_scheduler(text, connect_timeout=min(connect_timeout, CONNECT_TIMEOUT))
    try:
        return Client(timeout=connect_timeout, **kwargs), None, None
    except (OSError, TimeoutError) as err:
        raise ValueError(f"scheduler {address!r} cannot be reached: {err}") from err


#: Seconds to wait for a scheduler to accept a TCP connection before giving up.
CONNECT_TIMEOUT = 8.0
#: Seconds a scheduler has to greet a new connection; a Dask scheduler writes its handshake
#: as soon as it accepts, so silence means another service (an HTTP server, a stuck process).
HANDSHAKE_TIMEOUT = 5.0
#: The largest greeting accepted (a Dask handshake is a few hundred bytes).
_MAX_GREETING = 1 << 20


def scheduler_address(scheduler: Any) -> str | None:
    """The address (or scheduler file) that ``scheduler`` names; None for ``"local:N"`` and
    for a ``distributed.Client``, which need no check."""
    if not isinstance(scheduler, (str, os.PathLike)):
        return None
    text = str(scheduler).strip()
    return None if text.startswith("local") else text


def _scheduler_address(text: str) -> str:
    """The address in ``text``: itself, or the ``address`` of a scheduler file (.json)."""
    import json

    if not text.endswith(".json"):
        return text
    try:
        info = json.loads(Path(text).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"scheduler file {text!r}: expected the JSON a Dask scheduler "
                         f"writes (--scheduler-file), found unreadable content: {err}") from err
    address = info.get("address") if isinstance(info, dict) else None
    if not isinstance(address, str) or not address:
        raise ValueError(f"scheduler file {text!r}: expected an 'address' entry such as "
                         f"'tcp://host:8786', found {address!r}")
    return address


def check_scheduler(scheduler: str, *, connect_timeout: float = CONNECT_TIMEOUT,
                    handshake_timeout: float = HANDSHAKE_TIMEOUT) -> str:
    """Check that a Dask scheduler answers at a TCP address, within bounded time.

    Opens a plain TCP connection and waits for the scheduler's greeting (the length-prefixed
    handshake message a Dask scheduler writes as soon as it accepts a connection). A refused
    port, an unknown host, a host that does not answer, a service that accepts and stays
    silent (an HTTP server waits for a request) or one that answers with something other than
    a Dask message are refused within ``connect_timeout + handshake_timeout`` seconds, before
    the caller writes anything. Addresses of other protocols (``tls://``, ``ucx://``, ...) are
    left to ``distributed``.

    Parameters
    ----------
    scheduler : str
        ``"tcp://host:port"``, ``"host:port"`` or a scheduler file (.json).
    connect_timeout, handshake_timeout : float
        Seconds for the TCP connection, then for the greeting.

    Returns
    -------
    str
        The address checked.

    Raises
    ------
    ValueError
        Naming the address, what was expected and what was found.
    """
    import socket
    import struct
    import time

    address = _scheduler_address(scheduler)
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme != "tcp":
        return address
    host, _, port_text = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise ValueError(f"scheduler {address!r}: expected an address such as "
                         f"'tcp://host:8786' (host and port), found no valid port")
    where = f"scheduler {address!r}"
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except socket.gaierror as err:
        raise ValueError(f"{where}: expected a reachable host, found an unknown name "
                         f"{host!r} ({err})") from err
    except ConnectionRefusedError as err:
        raise ValueError(f"{where} cannot be reached: expected a Dask scheduler listening "
                         f"there, found nothing (connection refused); is it running?") from err
    except TimeoutError as err:
        raise ValueError(f"{where} cannot be reached: expected the host to accept a "
                         f"connection within "
                         f"{connect_timeout:g} s, found no answer (a firewall, or a wrong "
                         f"host?)") from err
    except OSError as err:
        raise ValueError(f"{where} cannot be reached: {err}") from err
    deadline = time.monotonic() + handshake_timeout

    def receive(n: int) -> bytes:
        data = b""
        while len(data) < n:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    with sock:
        try:
            head = receive(8)
            (size,) = struct.unpack("<Q", head)
            if not 0 < size <= _MAX_GREETING:
                raise ValueError(
                    f"{where}: expected a Dask scheduler's handshake, found bytes "
                    f"{head!r} that are not one (another service listens there)")
            receive(size)
        except TimeoutError as err:
            raise ValueError(
                f"{where}: accepted the connection but sent no Dask handshake within "
                f"{handshake_timeout:g} s; expected a Dask scheduler, found another service "
                f"(an HTTP server or a stuck process?)") from err
        except (ConnectionError, OSError) as err:
            raise ValueError(f"{where}: closed the connection during the handshake; expected "
                             f"a Dask scheduler, found another service") from err
    return address
