"""What every mock national database shares: the app factory, problem+json errors, and the one
place each request passes through (the *interceptor*), where the fault engine plugs in.

Each mock module builds an ``APIRouter(route_class=OperationRoute)`` whose routes carry the
catalogue's ``operation_id``; :func:`create_service_app` mounts it with the error handlers,
``/healthz`` and the contract's OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.catalogue import operation
from contracts.common import (
    CONTRACT_VERSION,
    PROBLEM_MEDIA_TYPE,
    FieldError,
    Problem,
    problem_responses,
)
from ndxp_config.settings import Settings

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class ProblemError(Exception):
    """Raised by a mock's handler to answer with problem+json (``code`` is stable)."""

    def __init__(self, status: int, code: str, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail = status, code, title, detail


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "not_found", "Not found", what)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


@dataclass(frozen=True, slots=True)
class OperationContext:
    """What the interceptor knows of a request: which provider and operation it targets."""

    provider: str
    operation_id: str
    request: Request


CallNext = Callable[[], Awaitable[Response]]
Interceptor = Callable[[OperationContext, CallNext], Awaitable[Response]]


async def passthrough(context: OperationContext, call_next: CallNext) -> Response:
    return await call_next()


class OperationRoute(APIRoute):
    """A route whose handler runs inside ``app.state.interceptor`` — the single fault seam."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        operation_id = self.operation_id or self.name

        async def intercepted(request: Request) -> Response:
            state = request.app.state
            context = OperationContext(state.provider, operation_id, request)
            interceptor: Interceptor = state.interceptor
            return await interceptor(context, lambda: handler(request))

        return intercepted


Handler = TypeVar("Handler", bound=Callable[..., Any])


def contract_route(
    router: APIRouter,
    provider: str,
    operation_id: str,
    *,
    problems: tuple[int, ...] = (),
    **kwargs: Any,
) -> Callable[[Handler], Handler]:
    """Declare a route exactly as the catalogue publishes it: method, path, id and summary.

    ``problems`` lists the problem+json statuses the route can answer (documented in OpenAPI);
    422 (invalid input) is always among them, and 400 (unparseable body) for POST.
    """
    op = operation(provider, operation_id)
    statuses = {422, *problems} | ({400} if op.method == "POST" else set())
    decorator: Callable[[Handler], Handler] = router.api_route(
        op.path.removeprefix(router.prefix),
        methods=[op.method],
        operation_id=operation_id,
        summary=op.summary,
        responses=problem_responses(*sorted(statuses)),
        **kwargs,
    )
    return decorator


@dataclass
class ServiceInfo:
    provider: str
    title: str
    description: str
    tags: list[dict[str, str]] = field(default_factory=list)


def create_service_app(
    info: ServiceInfo, router: APIRouter, settings: Settings, *, state: dict[str, Any] | None = None
) -> FastAPI:
    """A FastAPI app serving exactly one national database's contract."""
    app = FastAPI(
        title=info.title,
        version=CONTRACT_VERSION,
        description=info.description,
        openapi_tags=info.tags or None,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.provider = info.provider
    app.state.settings = settings
    app.state.seed = settings.mocks.seed
    app.state.interceptor = passthrough
    for key, value in (state or {}).items():
        setattr(app.state, key, value)
    _guard_concrete_paths(router)
    app.include_router(router)
    app.state.contract_routers = {_version(router): router}
    _install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "provider": info.provider, "seed": settings.mocks.seed}

    @app.get("/samples/operations", include_in_schema=False)
    def sample_operations(province: str = "038") -> Any:
        """One working call of every operation for a province (read by the connection kit)."""
        from mock_services.samples import province_samples  # it imports the mocks' modules

        try:
            # ServiceInfo.provider is a plain str; only the four mocks build apps here.
            provider: Any = info.provider
            samples = province_samples(settings.mocks.seed, provider, province)
        except KeyError:
            raise not_found(f"{province!r} is not a province code") from None
        return samples.model_dump(mode="json")

    from mock_services.faults import FaultEngine, install_fault_engine  # faults wrap this seam
    from mock_services.openapi import openapi_document  # a cycle: the builder reads the app

    install_fault_engine(app, FaultEngine(info.provider, time_scale=settings.time_scale))

    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def add_version(app: FastAPI, router: APIRouter) -> None:
    """Serve another version of the app's contract (``router.prefix`` is ``/v2``) beside the
    first; each version is published as its own document (``population.v2.yaml``)."""
    _guard_concrete_paths(router)
    app.include_router(router)
    app.state.contract_routers[_version(router)] = router


_ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def _method_not_allowed() -> None:
    raise StarletteHTTPException(405)


def _guard_concrete_paths(router: APIRouter) -> None:
    """``GET /v1/citizens/verify`` is not the citizen "verify" (a 422 on its id): as in OpenAPI
    path matching, a concrete path wins over a template (``/v1/citizens/{personal_id}``), so
    the other methods of a concrete path that a template also matches are 405 with ``Allow``.
    Starlette takes the first full match, so the guards go first."""
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    guarded = {r.path for r in routes if r.name == "method_guard"}
    for route in routes:
        if "{" in route.path or route.path in guarded:
            continue
        shadowing = [
            r for r in routes if "{" in r.path and r.path_regex.match(route.path) is not None
        ]
        if shadowing:
            methods = sorted(
                _ALL_METHODS
                - set().union(*(r.methods or () for r in routes if r.path == route.path))
            )
            guard = APIRoute(
                route.path,
                _method_not_allowed,
                methods=methods,
                name="method_guard",
                include_in_schema=False,
                response_model=None,
            )
            router.routes.insert(0, guard)
            guarded.add(route.path)


def _version(router: APIRouter) -> int:
    if not re.fullmatch(r"/v\d+", router.prefix):
        raise ValueError(f"a contract router's prefix is its version (/v1), not {router.prefix!r}")
    return int(router.prefix[2:])


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            Problem(title=exc.title, status=exc.status, code=exc.code, detail=exc.detail)
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(loc=[str(p) for p in e.get("loc", ())], msg=e["msg"], type=e["type"])
            for e in exc.errors()
        ]
        where = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:5])
        return problem_response(
            Problem(
                title="Invalid request",
                status=422,
                code="invalid_request",
                detail=where or "The request does not match the contract.",
                errors=errors,
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        detail = (
            f"No operation at {request.method} {request.url.path}; see /docs."
            if exc.status_code in codes
            else str(exc.detail)
        )
        titles = {404: "Not found", 405: "Method not allowed"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            Problem(
                title=titles.get(exc.status_code, str(exc.detail)),
                status=exc.status_code,
                code=codes.get(exc.status_code, "invalid_request"),
                detail=detail,
            ),
            headers=headers,
        )


def allowed_methods(request: Request) -> list[str]:
    """The ``Allow`` of a 405: the documented methods of the most specific matching path.

    Starlette lists the methods of the first route that matches the path only, so
    ``OPTIONS /v1/citizens/verify`` advertised ``GET`` (of ``/v1/citizens/{personal_id}``).
    As in OpenAPI path matching, a concrete path wins over a templated one.
    """
    path = request.url.path
    concrete: set[str] = set()
    templated: set[str] = set()
    for template, item in request.app.openapi()["paths"].items():
        segments = template.split("/")
        pattern = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
        if re.fullmatch(pattern, path):
            target = templated if "{" in template else concrete
            target.update(m.upper() for m in item if m in _HTTP_METHODS)
    return sorted(concrete or templated)
