"""Where and how wide the Ray engine runs (:class:`RayOptions`), and Ray itself, optional.

Ray is an optional dependency: ``pip install "biocoreset_viz[distributed]"``;
:func:`require_ray` imports it or says how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from biocoreset_viz.errors import ConfigError, MissingDependencyError
from biocoreset_viz.settings import describe_fields, help_metadata

INSTALL_HINT = 'pip install "biocoreset_viz[distributed]"'


class RayNotInstalledError(MissingDependencyError):
    """The Ray engine was asked for but Ray (``ray[data]``) is not installed."""


def require_ray():
    """Import Ray and Ray Data, or raise :class:`RayNotInstalledError` saying how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401 (the engine needs the Data library, not only the core)
    except ImportError as error:
        raise RayNotInstalledError(
            f"the Ray engine needs Ray Data, which is not installed: {INSTALL_HINT}"
        ) from error
    return ray


@dataclass
class RayOptions:
    """Where and how wide the Ray engine runs; ``RayOptions.help()`` documents each field."""

    address: str | None = field(
        default=None,
        metadata=help_metadata(
            "the cluster to join: None joins the one named by RAY_ADDRESS or starts a "
            "local one; 'auto' joins the cluster this node belongs to; "
            "'ray://host:10001' connects a remote client"
        ),
    )
    num_actors: int | None = field(
        default=None,
        metadata=help_metadata(
            "scoring actors (each loads one model); None: one per GPU of the cluster when "
            "gpus_per_actor > 0, otherwise one per cpus_per_actor CPUs; never more than "
            "the shards to score"
        ),
    )
    cpus_per_actor: float = field(
        default=1.0, metadata=help_metadata("CPUs reserved per actor (and its torch threads)")
    )
    gpus_per_actor: float | None = field(
        default=None,
        metadata=help_metadata(
            "GPUs per actor; None: 1 when the cluster has GPUs and the config's device is "
            "not 'cpu', else 0"
        ),
    )
    max_restarts: int = field(
        default=3,
        metadata=help_metadata(
            "how often a dead actor is restarted (its shards are retried as often) before "
            "the run fails"
        ),
    )
    num_cpus: int | None = field(
        default=None,
        metadata=help_metadata("CPUs of a local cluster started here (None: all of this machine)"),
    )

    def __post_init__(self) -> None:
        if self.num_actors is not None and (
            isinstance(self.num_actors, bool)
            or not isinstance(self.num_actors, int)
            or self.num_actors < 1
        ):
            raise ConfigError(f"num_actors must be None or >= 1, got {self.num_actors!r}")
        if not self.cpus_per_actor > 0:
            raise ConfigError(f"cpus_per_actor must be > 0, got {self.cpus_per_actor!r}")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise ConfigError(f"gpus_per_actor must be >= 0, got {self.gpus_per_actor!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ConfigError(f"max_restarts must be an integer >= 0, got {self.max_restarts!r}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"num_cpus must be None or >= 1, got {self.num_cpus!r}")

    @classmethod
    def help(cls) -> str:
        """Every field with its default and documentation."""
        return describe_fields(cls)
