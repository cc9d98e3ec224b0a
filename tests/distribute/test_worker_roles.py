"""Worker roles and the local test cluster."""

import socket

import pytest

from kerastune.distribute import local_cluster


def test_local_cluster_gives_distinct_free_ports_on_localhost():
    workers = local_cluster(3)["worker"]
    ports = [int(address.rsplit(":", 1)[1]) for address in workers]
    assert len(set(ports)) == 3 and all(a.startswith("127.0.0.1:") for a in workers)
    for port in ports:  # each is free: it can be bound again
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    with pytest.raises(ValueError, match="at least one worker"):
        local_cluster(0)
