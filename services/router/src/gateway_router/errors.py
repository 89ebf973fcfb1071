"""The router's exception tree.

    RouterError
    ├── RequestRejected     the caller asked for something we cannot do (4xx)
    ├── UpstreamFailed      the provider refused or failed (429, 5xx, timeouts)
    └── InternalFault       a bug of ours (500)

Each carries the stable error code that the edge answers the client with.
"""

from __future__ import annotations

from gateway_contracts import ErrorCode, ErrorFrame, error_body, status_for


class RouterError(Exception):
    code: ErrorCode = "internal_error"

    def __init__(self, message: str, *, code: ErrorCode | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    @property
    def status(self) -> int:
        return status_for(self.code)

    def to_frame(self) -> ErrorFrame:
        return {"status": self.status, "error": error_body(self.code, self.message, self.param)}


class RequestRejected(RouterError):
    code: ErrorCode = "invalid_request"


class UpstreamFailed(RouterError):
    code: ErrorCode = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        # Whether the same request may succeed if sent again shortly.
        self.retryable = retryable

    def to_frame(self) -> ErrorFrame:
        frame = super().to_frame()
        if self.retry_after is not None:
            frame["retry_after"] = self.retry_after
        return frame


class InternalFault(RouterError):
    code: ErrorCode = "internal_error"
