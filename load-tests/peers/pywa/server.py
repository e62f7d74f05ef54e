# A minimal WhatsApp webhook receiver on pywa + FastAPI (PyPI), a peer of `loadtest peers`
# (load-tests/README.md, "Peers"). pywa registers the webhook route on the FastAPI app: it
# verifies X-Hub-Signature-256 with the app secret, answers 200 and hands the update to a
# FastAPI background task, which parses it and calls the message handler below; the handler
# routes the message with the shared Redis Lua script (load-tests/peers/route.lua). Acks first,
# routes after (a failure after the 200 is only logged). Run with uvicorn's workers:
#
#   uvicorn server:app --app-dir load-tests/peers/pywa --workers 2 --port PORT --no-access-log
#
# Environment: REDIS_URL, APP_SECRET, ROUTE_LUA (the script's path; default ../route.lua).
#
# SPDX-License-Identifier: MIT OR Apache-2.0

import os
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pywa_async import WhatsApp, types

ROUTE_LUA = Path(
    os.environ.get("ROUTE_LUA", Path(__file__).resolve().parent.parent / "route.lua")
).read_text()
# The keys route.lua works on (what the load test reads: route:processed).
KEYS = [
    "route:conversation_of",
    "route:conversations",
    "route:messages",
    "route:stream",
    "route:processed",
]

app = FastAPI()
# A blocking pool: when routing falls behind the acks, a route waits for a connection (the
# default pool raises "Too many connections" past 100 at once, and the message is lost).
redis = aioredis.Redis(
    connection_pool=aioredis.BlockingConnectionPool.from_url(
        os.environ["REDIS_URL"], max_connections=32, timeout=None
    )
)
route = redis.register_script(ROUTE_LUA)

wa = WhatsApp(
    phone_id="0",
    token="unused: this receiver sends nothing",
    server=app,
    webhook_endpoint="/webhooks/whatsapp",
    verify_token="loadtest",
    app_secret=os.environ["APP_SECRET"],
    validate_updates=True,
    # The load test writes to several numbers of one business.
    filter_updates=False,
)


@wa.on_message()
async def route_message(_: WhatsApp, msg: types.Message) -> None:
    await route(
        keys=KEYS,
        args=[msg.from_user.wa_id, msg.id, msg.metadata.phone_number_id],
    )


@app.get("/healthz")
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")
