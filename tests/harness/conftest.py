"""
Fixtures for the harness's own tests.

The 3-broker cluster fixtures of the integration suite are shared here, so a
harness test can check a setting on both the single broker and the cluster, and
the fault verbs on the proxied cluster.
"""

from tests.integration.conftest import (
    cluster,
    healthy_cluster,
    healthy_proxied_cluster,
    proxied_cluster,
)

__all__ = ["cluster", "healthy_cluster", "healthy_proxied_cluster", "proxied_cluster"]
