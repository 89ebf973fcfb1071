"""Helpers of every admin endpoint: the admin token check and JSON bodies in and out."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from gateway_contracts.chat import describe_validation_error
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

Body = TypeVar("Body", bound=BaseModel)


def admin_state(request: Request) -> EdgeState:
    """Return the edge's state once the request's admin token checks out, or raise 401."""
    state: EdgeState = request.app.state.edge
    state.auth.admin(request.headers.get("authorization"))
    return state


async def json_body(request: Request, model: type[Body]) -> Body:
    """Validate the body strictly, as the chat endpoint does: `"yes"` or `"30"` is not a boolean or a number."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as error:
        if error.errors()[0]["type"] == "json_invalid":
            raise EdgeError("invalid_json", "The request body is not valid JSON.") from None
        problem = describe_validation_error(error)
        raise EdgeError("invalid_request", problem.message, param=problem.param) from None


def json_response(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def validated(schema: type[Body], /, **fields: object) -> Body:
    """Build `model` from path parameters and body fields, rejecting a bad value with a 400 that names it."""
    try:
        return schema.model_validate(fields)
    except ValidationError as error:
        problem = describe_validation_error(error)
        raise EdgeError("invalid_request", problem.message, param=problem.param) from None
