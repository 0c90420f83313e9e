"""One exception class per kind of dataset-run failure; messages say what was expected, what was
found and what to do."""

from __future__ import annotations

from ..errors import GradCamError


class DatasetSourceError(GradCamError, ValueError):
    """SRC or the labels file cannot be used: missing, empty, not a folder / ZIP / CSV / Parquet,
    or a list without a ``path`` column."""


class RunFolderError(GradCamError, ValueError):
    """The run folder holds another run (other inputs or options) or is damaged."""


class EngineUnavailableError(GradCamError, RuntimeError):
    """The engine asked for cannot run here (Ray is not installed, or the cluster cannot be reached)."""


class RunAccessError(GradCamError, ValueError):
    """A run asked for by name that is not a run folder inside the configured runs folder: a path
    leading outside it (``..``, an absolute path, a symbolic link pointing elsewhere), or a name
    that holds no run."""


class ClusterError(GradCamError, ValueError):
    """SpRAy cannot cluster a class as asked: a class the run did not predict, a class too small to
    cluster, or a number of clusters outside 1 to the class's number of images."""
