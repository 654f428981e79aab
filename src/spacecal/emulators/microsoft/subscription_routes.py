"""Graph ``/subscriptions`` routes: create (with validation), list, get, renew, delete,
reauthorize. Unknown ids (or another app's) answer 404 ``ResourceNotFound``.

``POST /subscriptions/{id}/reauthorize`` answers 204 No Content with no body, as
Graph's reference ("subscription: reauthorize") says; msgraph-sdk's
``reauthorize.post()`` then returns None."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .graph_context import GraphState, json_body
from .subscription_service import SubscriptionRegistry


def subscription_routes(state: GraphState, registry: SubscriptionRegistry) -> list[Route]:
    context = f"{state.base_url}/v1.0/$metadata#subscriptions"

    async def create(request: Request) -> Response:
        caller = state.caller(request)
        sub = await registry.create(caller, await json_body(request))
        return JSONResponse({"@odata.context": f"{context}/$entity", **sub.json()}, 201)

    async def list_all(request: Request) -> Response:
        caller = state.caller(request)
        values = [s.json() for s in registry.list_for(caller)]
        return JSONResponse({"@odata.context": context, "value": values})

    async def get_one(request: Request) -> Response:
        caller = state.caller(request)
        sub = registry.get(request.path_params["sub"], caller)
        return JSONResponse({"@odata.context": f"{context}/$entity", **sub.json()})

    async def renew(request: Request) -> Response:
        caller = state.caller(request)
        sub = await registry.update(caller, request.path_params["sub"], await json_body(request))
        return JSONResponse({"@odata.context": f"{context}/$entity", **sub.json()})

    async def delete(request: Request) -> Response:
        caller = state.caller(request)
        registry.delete(caller, request.path_params["sub"])
        return Response(status_code=204)

    async def reauthorize(request: Request) -> Response:
        caller = state.caller(request)
        registry.reauthorize(caller, request.path_params["sub"])
        return Response(status_code=204)

    return [
        Route("/subscriptions", create, methods=["POST"]),
        Route("/subscriptions", list_all, methods=["GET"]),
        Route("/subscriptions/{sub}", get_one, methods=["GET"]),
        Route("/subscriptions/{sub}", renew, methods=["PATCH"]),
        Route("/subscriptions/{sub}", delete, methods=["DELETE"]),
        Route("/subscriptions/{sub}/reauthorize", reauthorize, methods=["POST"]),
    ]
