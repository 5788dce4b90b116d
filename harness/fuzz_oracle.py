"""The oracle fuzzed requests are judged by: no request gets a 5xx, the server stays alive, no request leaves a
staged file behind, and at the end the index (QIDO-RS), the change feed, the events and the blob store hold
exactly the instances that STOW-RS answers acknowledged, and nothing of the requests that failed.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import httpx

from .fuzz_cases import DICOM_JSON, Request


class Ledger:
    """What the server acknowledged, and the checks that it holds exactly that and nothing of what it refused."""

    def __init__(self, base_url: str, blob_dir: Path) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=120)
        self.blob_dir = blob_dir
        self.acknowledged: set[tuple[str, str, str]] = set()
        self.cases = 0
        self.server_errors: list[str] = []
        self.first_sequence = self._latest_sequence()
        self.files_before = self._files()

    def send(self, request: Request) -> httpx.Response:
        """Sends the request; records a 5xx, the instances a STOW acknowledged, and staged files left behind."""
        self.cases += 1
        response = self.client.request(request.method, request.path, headers=request.headers, content=request.body)
        if response.status_code >= 500:
            self.server_errors.append(f"{request.method} {request.path[:200]} -> {response.status_code}")
        if request.method == "POST" and "/studies" in request.path and response.status_code in (200, 202):
            for item in response.json().get("00081199", {}).get("Value", []):
                study, series, sop = _INSTANCE_URL.search(item["00081190"]["Value"][0]).groups()
                self.acknowledged.add((unquote(study), unquote(series), unquote(sop)))
        staged = list((self.blob_dir / ".staging").iterdir())
        if staged:
            self.server_errors.append(f"{request.method} {request.path[:200]} left {len(staged)} staged files")
        return response

    def known_uids(self) -> list[tuple[str, str, str]]:
        """The (study, series, SOP instance) UIDs acknowledged so far."""
        return sorted(self.acknowledged)

    def mismatches(self) -> list[str]:
        """Every way the server's state differs from what it acknowledged; empty when it matches."""
        found = []
        if self.client.get("/health/check").status_code != 200:
            found.append("the server is not healthy")
        for study, series, sop in self.acknowledged:
            response = self.client.get(
                f"/v2/studies/{study}/series/{series}/instances", params={"SOPInstanceUID": sop}, headers=_JSON
            )
            if response.status_code != 200 or len(response.json()) != 1:
                found.append(f"QIDO does not find the acknowledged instance {sop}")
        changed = self._changed_instances()
        if changed != self.acknowledged:
            found.append(
                f"the change feed lists {len(changed - self.acknowledged)} instances never acknowledged "
                f"and misses {len(self.acknowledged - changed)}"
            )
        events = {
            (
                event["data"]["imageStudyInstanceUid"],
                event["data"]["imageSeriesInstanceUid"],
                event["data"]["imageSopInstanceUid"],
            )
            for event in self.client.get("/emulator/events").json()
        }
        if not events <= self.acknowledged | self._instances_before:
            found.append(f"{len(events - self.acknowledged)} events are of instances never acknowledged")
        new_files = self._files() - self.files_before
        if len(new_files) != len(self.acknowledged):
            found.append(f"{len(new_files)} new files in the blob store for {len(self.acknowledged)} instances")
        return found

    def close(self) -> None:
        """Closes the HTTP client."""
        self.client.close()

    def _latest_sequence(self) -> int:
        response = self.client.get("/v2/changefeed/latest", params={"includeMetadata": "false"})
        self._instances_before = self._all_changed_instances(0)
        return response.json()["sequence"] if response.status_code == 200 else 0

    def _changed_instances(self) -> set[tuple[str, str, str]]:
        return self._all_changed_instances(self.first_sequence)

    def _all_changed_instances(self, after: int) -> set[tuple[str, str, str]]:
        found: set[tuple[str, str, str]] = set()
        offset = after
        while True:
            page = self.client.get(
                "/v1/changefeed", params={"offset": offset, "limit": 100, "includeMetadata": "false"}
            )
            entries = page.json() if page.status_code == 200 else []
            if not entries:
                return found
            found.update(
                (entry["studyInstanceUid"], entry["seriesInstanceUid"], entry["sopInstanceUid"]) for entry in entries
            )
            offset = entries[-1]["sequence"]

    def _files(self) -> set[Path]:
        return {path for path in self.blob_dir.rglob("*") if path.is_file() and ".staging" not in path.parts}


_JSON = {"Accept": DICOM_JSON}
_INSTANCE_URL = re.compile(r"/studies/([^/]+)/series/([^/]+)/instances/([^/]+)$")
