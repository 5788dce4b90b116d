"""Fault injection rules: which requests the emulator answers with an injected failure or delay."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

DEFAULT_RETRY_AFTER_SECONDS = 1


class FaultRule(BaseModel):
    """One rule: requests matching ``method`` and the ``path`` glob get ``status`` (or only a delay).

    ``probability`` is the chance that a matching request fires the rule, ``count`` the most times
    it fires (unlimited when absent), ``retry_after`` the seconds of a ``Retry-After`` header (a 429
    always has one), ``delay_ms`` a wait before the answer, or before the request is served when
    ``status`` is absent.
    """

    model_config = ConfigDict(extra="forbid")

    method: str = "*"
    path: str = "*"
    status: int | None = Field(None, ge=100, le=599)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1)
    retry_after: int | None = Field(None, ge=0)
    delay_ms: int = Field(0, ge=0, le=600_000)

    @model_validator(mode="after")
    def _needs_an_effect(self) -> FaultRule:
        if self.status is None and not self.delay_ms:
            raise ValueError("a rule needs a status, a delay_ms, or both")
        self.method = self.method.upper()
        if self.status == 429 and self.retry_after is None:
            self.retry_after = DEFAULT_RETRY_AFTER_SECONDS
        return self


FAULT_RULES = TypeAdapter(list[FaultRule])
