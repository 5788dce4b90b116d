"""The scope a request runs in: API version, partition and the base of the URLs it hands out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """API version, partition and URL base of one request."""

    api_version: int  # major version: 1 for v1 and v1.0-prerelease, 2 for v2
    version_segment: str  # as the client wrote it, e.g. "v2" or "v1.0-prerelease"
    partition_key: int
    partition_name: str
    partitions_enabled: bool
    base_url: str  # scheme://host:port, no trailing slash

    @property
    def root_url(self) -> str:
        """The URL every partitioned route of this request starts with."""
        url = f"{self.base_url}/{self.version_segment}"
        if self.partitions_enabled:
            url += f"/partitions/{self.partition_name}"
        return url

    def study_url(self, study_uid: str) -> str:
        """Absolute URL of a study."""
        return f"{self.root_url}/studies/{study_uid}"

    def instance_url(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        """Absolute URL of an instance."""
        return f"{self.root_url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"

    def workitem_url(self, workitem_uid: str) -> str:
        """Absolute URL of a workitem."""
        return f"{self.root_url}/workitems/{workitem_uid}"
