"""What every service and version client shares: calling a route, lifecycle warnings, errors."""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timezone
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from mlserve_client._about import __version__
from mlserve_client._batch import BatchResult, Queues, receive, submit
from mlserve_client._errors import (
    ApiError,
    InvalidRequestError,
    MlserveDeprecationWarning,
    UnexpectedResponseError,
    VersionGoneError,
    json_object,
)
from mlserve_client._http import AsyncSender, HttpRequest, HttpResponse, Sender
from mlserve_client._lifecycle import Deprecation, parse_http_date, parse_lifecycle, parse_links
from mlserve_client._lifecycle import link_target as _link_target
from mlserve_client._models import Health, Metadata
from mlserve_client._versions import SUPPORTED, SupportedVersion, recommended, supported

ModelT = TypeVar("ModelT", bound=BaseModel)
SenderT = TypeVar("SenderT", Sender, AsyncSender)
VersionT = TypeVar("VersionT", bound="_Version[Any]")
_APP = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Session(Generic[SenderT]):
    """State one Client shares with its service and version clients."""

    def __init__(
        self, base_url: str, sender: SenderT, app: str | None = None, queues: Queues | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.sender: SenderT = sender
        self.queues = queues or Queues(None)
        self.headers = {"accept": "application/json", "user-agent": user_agent(app)}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def warn_once(self, warning: MlserveDeprecationWarning) -> None:
        """Emit the warning unless this client already warned about the same service version."""
        key = (warning.service, warning.version)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(warning, stacklevel=_caller_stacklevel())


def user_agent(app: str | None) -> str:
    """`mlserve-client/<version>`, plus `app/<name>` so the platform can tell callers apart."""
    if app is None:
        return f"mlserve-client/{__version__}"
    if not _APP.fullmatch(app):
        raise ValueError(
            f"app {app!r} must be 1-64 characters of letters, digits, '.', '_' and '-'"
        )
    return f"mlserve-client/{__version__} app/{app}"


class _Version(Generic[SenderT]):
    """What a major's sync and async clients share: identity, lifecycle, requests, answers."""

    service: ClassVar[str]
    major: ClassVar[int]

    def __init__(self, session: Session[SenderT]) -> None:
        self._session: Session[SenderT] = session
        self._announced: Deprecation | None = None

    @property
    def key(self) -> str:
        """The version key, e.g. `v2`."""
        return f"v{self.major}"

    @property
    def supported(self) -> SupportedVersion:
        """This version's row in the client's version table."""
        return supported(self.service, self.major)

    @property
    def deprecation(self) -> Deprecation | None:
        """The deprecation the server last announced in headers, else the client table's, if any."""
        if self._announced is not None:
            return self._announced
        row = self.supported
        if row.status != "deprecated":
            return None
        return Deprecation(
            deprecated_at=_start_of(row.deprecated_on),
            sunset_at=_end_of(row.sunset_on),
            successor=row.successor_path,
            docs=None,
            source="client",
        )

    def _request(
        self,
        method: str,
        path: str,
        request_model: type[BaseModel] | None,
        request: BaseModel | Mapping[str, Any] | None,
    ) -> HttpRequest:
        """The wire request of one call, its body validated against the closed request model."""
        row = self.supported
        if row.status == "deprecated":
            self._session.warn_once(_warning_from_table(row))
        headers = dict(self._session.headers)
        data = None
        if request_model is not None:
            if not isinstance(request, request_model):
                request = request_model.model_validate(
                    request.model_dump() if isinstance(request, BaseModel) else dict(request or {})
                )
            headers["content-type"] = "application/json"
            data = request.model_dump_json(exclude_unset=True).encode()
        return HttpRequest(method, f"{self._session.base_url}{row.base_path}{path}", headers, data)

    def _submit_batch(
        self,
        request_model: type[BaseModel],
        requests: Sequence[BaseModel | Mapping[str, Any]],
        ids: Sequence[str] | None,
        reply_to: str | None,
    ) -> list[str]:
        """Queue requests on this major's work queue; their ids."""
        row = self.supported
        if row.status == "deprecated":
            self._session.warn_once(_warning_from_table(row))
        queues = self._session.queues
        return submit(queues, self.service, self.key, request_model, requests, ids, reply_to)

    def _results(
        self,
        response_model: type[ModelT],
        max_messages: int,
        wait_seconds: int,
        queue_url: str | None,
    ) -> list[BatchResult[ModelT]]:
        """Results off this major's results queue (or `queue_url`), deleted once read; a
        deprecation they announce warns as a response's headers do."""
        results = receive(self._session.queues, self.service, self.key, response_model,
                          max_messages, wait_seconds, queue_url)  # fmt: skip
        for result in results:
            if result.deprecation is not None:
                announced = replace(
                    result.deprecation,
                    successor=result.deprecation.successor or self.supported.successor_path,
                )
                self._announced = announced
                self._session.warn_once(_warning_from_server(self.service, self.key, announced))
        return results

    def _answer(
        self, request: HttpRequest, response: HttpResponse, response_model: type[ModelT]
    ) -> ModelT:
        """The typed answer, or the error the response stands for."""
        self._note_lifecycle(response)
        if response.status >= 400:
            raise self._error(request.method, request.url, response)
        try:
            return response_model.model_validate_json(response.body)
        except ValidationError as error:
            raise UnexpectedResponseError(
                f"{request.method} {request.url} answered {response.status} with a body that "
                f"does not match {response_model.__name__}: {error}"
            ) from error

    def _note_lifecycle(self, response: HttpResponse) -> None:
        announced = parse_lifecycle(response.headers)
        if announced is None:
            return
        self._announced = announced
        self._session.warn_once(_warning_from_server(self.service, self.key, announced))

    def _error(self, method: str, url: str, response: HttpResponse) -> ApiError:
        text = _summary(response.body)
        message = f"{method} {url} answered {response.status}: {text}"
        if response.status == 400:
            return InvalidRequestError(message, status=response.status, body=response.body, url=url)
        if response.status == 410:
            return self._gone(message, url, response)
        return ApiError(message, status=response.status, body=response.body, url=url)

    def _gone(self, message: str, url: str, response: HttpResponse) -> VersionGoneError:
        problem = json_object(response.body) or {}
        successor = problem.get("successor")
        if not isinstance(successor, str):
            successor = _link_target(
                parse_links(response.headers.get_all("Link")), "successor-version"
            )
        if successor is None:
            successor = self.supported.successor_path
        sunset_at = parse_http_date(response.headers.get("Sunset"))
        if sunset_at is None:
            sunset_at = _end_of(self.supported.sunset_on)
        detail = f"{self.service} {self.key} is gone"
        if sunset_at is not None:
            detail += f" since its sunset {sunset_at:%Y-%m-%d}"
        detail += f"; call {successor} instead" if successor else "; no successor was named"
        return VersionGoneError(
            f"{detail} ({message})",
            status=response.status,
            body=response.body,
            url=url,
            service=self.service,
            version=self.key,
            successor=successor,
            sunset_at=sunset_at,
        )


class VersionClient(_Version[Sender]):
    """One major version of one service: its routes as methods, its lifecycle as properties."""

    def health(self) -> Health:
        """GET /health of this version."""
        return self._call("GET", "/health", None, Health, None)

    def metadata(self) -> Metadata:
        """GET /metadata of this version: model and contract facts."""
        return self._call("GET", "/metadata", None, Metadata, None)

    def _call(
        self,
        method: str,
        path: str,
        request_model: type[BaseModel] | None,
        response_model: type[ModelT],
        request: BaseModel | Mapping[str, Any] | None,
    ) -> ModelT:
        wire = self._request(method, path, request_model, request)
        return self._answer(wire, self._session.sender.send(wire), response_model)


class AsyncVersionClient(_Version[AsyncSender]):
    """The async client of one major version: the same methods, awaited."""

    async def health(self) -> Health:
        """GET /health of this version."""
        return await self._call("GET", "/health", None, Health, None)

    async def metadata(self) -> Metadata:
        """GET /metadata of this version: model and contract facts."""
        return await self._call("GET", "/metadata", None, Metadata, None)

    async def _call(
        self,
        method: str,
        path: str,
        request_model: type[BaseModel] | None,
        response_model: type[ModelT],
        request: BaseModel | Mapping[str, Any] | None,
    ) -> ModelT:
        wire = self._request(method, path, request_model, request)
        return self._answer(wire, await self._session.sender.send(wire), response_model)


class _Service(Generic[SenderT, VersionT]):
    """One service: a property per supported major, `version(n)` and the `default` major."""

    name: ClassVar[str]
    _flavor: ClassVar[type[_Version[Any]]]

    def __init__(self, session: Session[SenderT], default_major: int | None = None) -> None:
        self._session: Session[SenderT] = session
        self._clients: dict[int, VersionT] = {}
        if default_major is not None:
            supported(self.name, default_major)
        self._default_major = default_major

    @property
    def majors(self) -> list[int]:
        """The majors of this service the client supports."""
        return [row.major for row in SUPPORTED if row.service == self.name]

    @property
    def default(self) -> VersionT:
        """The major set with `default_versions=...`, else the newest active one."""
        major = self._default_major or recommended(self.name).major
        return self.version(major)

    def version(self, major: int | str) -> VersionT:
        """The client of one major, given as 2 or "v2"."""
        number = int(str(major).removeprefix("v"))
        client = self._clients.get(number)
        if client is None:
            module = importlib.import_module(supported(self.name, number).module)
            client = _version_class(module, self._flavor)(self._session)  # type: ignore[assignment]
            self._clients[number] = client  # type: ignore[assignment]
        return client  # type: ignore[return-value]


class ServiceClient(_Service[Sender, VersionClient]):
    """One service of a Client."""

    _flavor = VersionClient


class AsyncServiceClient(_Service[AsyncSender, AsyncVersionClient]):
    """One service of an AsyncClient."""

    _flavor = AsyncVersionClient


def _version_class(module: ModuleType, flavor: type[_Version[Any]]) -> type[_Version[Any]]:
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, flavor)
            and value.__module__ == module.__name__
        ):
            return value
    raise LookupError(f"{module.__name__} defines no {flavor.__name__} subclass")


def _warning_from_table(row: SupportedVersion) -> MlserveDeprecationWarning:
    sunset_at = _end_of(row.sunset_on)
    return _deprecation_warning(row.service, row.key, sunset_at, row.successor_path, None)


def _warning_from_server(
    service: str, version: str, announced: Deprecation
) -> MlserveDeprecationWarning:
    return _deprecation_warning(
        service, version, announced.sunset_at, announced.successor, announced.docs
    )


def _deprecation_warning(
    service: str,
    version: str,
    sunset_at: datetime | None,
    successor: str | None,
    docs: str | None,
) -> MlserveDeprecationWarning:
    parts = [f"{service} {version} is deprecated"]
    parts.append(
        f"it stops answering after its sunset on {sunset_at:%Y-%m-%d} ({sunset_at:%H:%M:%S} UTC)"
        if sunset_at is not None
        else "no sunset date is set yet"
    )
    parts.append(f"migrate to {successor}" if successor else "no successor was named")
    if docs:
        parts.append(f"see {docs}")
    return MlserveDeprecationWarning(
        "; ".join(parts), service=service, version=version, sunset_at=sunset_at,
        successor=successor,
    )  # fmt: skip


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0, 0, 0), tzinfo=timezone.utc)


def _end_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(23, 59, 59), tzinfo=timezone.utc)


def _summary(body: bytes) -> str:
    problem = json_object(body)
    if problem is not None:
        for key in ("detail", "title", "message"):
            if isinstance(problem.get(key), str):
                return str(problem[key])
    return body[:200].decode("utf-8", "replace") or "(empty body)"


def _caller_stacklevel() -> int:
    """The stacklevel that points a warning at the first frame outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
