"""HTTP plumbing shared by every simulated API area: app keys, error bodies, input parsing.

Why: each area module (orgs, roles, saml, usage, cost, ...) only states its endpoints; parsing
untrusted input lives here once, so no malformed input can produce a 500: every parse raises
``SimError(400, ...)``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from ddmsp.simulator.idp import MAX_METADATA_BYTES
from ddmsp.simulator.store import Org, SimError

if TYPE_CHECKING:
    from ddmsp.simulator.state import SimState

STATE: web.AppKey[SimState] = web.AppKey("state")
ORG: web.RequestKey[Org] = web.RequestKey("org", Org)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, path template, handler, keys needed: "api" | "both", rate-limit bucket)
Route = tuple[str, str, Handler, str, str]
JSON_CT = "application/json"


def state_of(request: web.Request) -> SimState:
    """The simulator state serving this request."""
    return request.app[STATE]


def caller_org(request: web.Request) -> Org:
    """The org the request's keys belong to (set by the auth middleware)."""
    return request[ORG]


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The real error body shape."""
    return web.json_response({"errors": [message]}, status=status, headers=headers)


def typed_json(body: Any, content_type: str, status: int = 200) -> web.Response:
    """A JSON answer with an exact Content-Type (the spec's media types carry no charset)."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type}
    )


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body or answer 400."""
    try:
        raw = await request.read()
    except web.HTTPException:
        raise
    except Exception:
        raise SimError(400, "Unable to read request body") from None
    if not raw.strip():
        raise SimError(400, "Request body is empty")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SimError(400, "Invalid JSON in request body") from None


def need_obj(value: Any, what: str) -> dict[str, Any]:
    """A JSON object or 400."""
    if not isinstance(value, dict):
        raise SimError(400, f"{what} must be an object")
    return value


def need_str(value: Any, what: str, allow_empty: bool = False) -> str:
    """A JSON string or 400."""
    if not isinstance(value, str) or (not allow_empty and not value):
        raise SimError(400, f"{what} must be a non-empty string")
    return value


def data_of(body: Any, rtype: str) -> dict[str, Any]:
    """``body.data`` of a JSON:API request, checking its type."""
    data = need_obj(need_obj(body, "body").get("data"), "data")
    if data.get("type") != rtype:
        raise SimError(400, f"data.type must be '{rtype}'")
    return data


def rel_ids(rel: Any, what: str, rtype: str) -> list[str]:
    """IDs of a to-many relationship ``{"data": [{"id", "type"}]}``."""
    items = need_obj(rel, what).get("data")
    if not isinstance(items, list):
        raise SimError(400, f"{what}.data must be a list")
    ids: list[str] = []
    for item in items:
        item = need_obj(item, f"{what}.data[]")
        if item.get("type", rtype) != rtype:
            raise SimError(400, f"{what}.data[].type must be '{rtype}'")
        ids.append(need_str(item.get("id"), f"{what}.data[].id"))
    return ids


def rel_id(rel: Any, what: str, rtype: str) -> str:
    """ID of a to-one relationship ``{"data": {"id", "type"}}``."""
    item = need_obj(need_obj(rel, what).get("data"), f"{what}.data")
    if item.get("type", rtype) != rtype:
        raise SimError(400, f"{what}.data.type must be '{rtype}'")
    return need_str(item.get("id"), f"{what}.data.id")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi] or 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimError(400, f"Invalid {name}: must be an integer") from None
    if not lo <= value <= hi:
        raise SimError(400, f"Invalid {name}: must be between {lo} and {hi}")
    return value


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter or 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise SimError(400, f"Invalid {name}: must be true or false")


def paging(request: web.Request, sorts: dict[str, Any], default_sort: str
           ) -> tuple[int, int, Any]:
    """page[size], page[number] and sort of a v2 list, validated as the API does."""
    size = query_int(request, "page[size]", 10, 1, 100)
    number = query_int(request, "page[number]", 0, 0, 1_000_000)
    sort = request.query.get("sort", default_sort)
    if sort not in sorts:
        raise SimError(400, f"Invalid sort: {sort}")
    return size, number, sorts[sort]


async def read_idp_file(request: web.Request) -> bytes:
    """The ``idp_file`` part of a multipart/form-data body."""
    if request.content_type != "multipart/form-data":
        raise SimError(415, "Unsupported Media Type: expected multipart/form-data")
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name != "idp_file":
                await part.release()
                continue
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = await part.read_chunk(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_METADATA_BYTES:
                    raise SimError(400, "Invalid IdP metadata file: file is too large")
                chunks.append(chunk)
            return b"".join(chunks)
    except SimError:
        raise
    except Exception:
        raise SimError(400, "Malformed multipart/form-data body") from None
    raise SimError(400, "Missing required form field 'idp_file'")
