// A minimal WhatsApp webhook receiver on whatsapp-api-js (npm), a peer of `loadtest peers`
// (load-tests/README.md, "Peers"). The library verifies X-Hub-Signature-256 with the app
// secret and parses the webhook; its message callback routes the message with the shared Redis
// Lua script (load-tests/peers/route.lua) and the library answers 200 once that returned:
// route, then 200 (Redis without persistence: not durable). node:cluster runs WORKERS
// processes on the one port, as `pm2 -i 2` or a cluster primary would.
//
// The load test copies this file next to the installed node_modules (<cache>/node/) and runs
// it with node. Environment: PORT, REDIS_URL, APP_SECRET, ROUTE_LUA (the script's path),
// WORKERS (default 2).
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

import Redis from "ioredis";
import { WhatsAppAPI } from "whatsapp-api-js/middleware/node-http";
import { NodeNext } from "whatsapp-api-js/setup/node";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
};

const port = Number(env("PORT"));
const workers = Number(process.env.WORKERS ?? "2");

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on("listening", () => {
    if (++listening === workers) console.log(`listening: ${workers} workers on port ${port}`);
  });
  let stopping = false;
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code})`);
      process.exit(1);
    }
  });
  for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
      setTimeout(() => process.exit(0), 200).unref();
    });
  }
} else {
  // The keys route.lua works on (what the load test reads: route:processed).
  const KEYS = [
    "route:conversation_of",
    "route:conversations",
    "route:messages",
    "route:stream",
    "route:processed",
  ];
  const redis = new Redis(env("REDIS_URL"), {
    scripts: { route: { numberOfKeys: KEYS.length, lua: readFileSync(env("ROUTE_LUA"), "utf8") } },
  });

  const Whatsapp = new WhatsAppAPI(
    NodeNext({
      token: "unused: this receiver sends nothing",
      appSecret: env("APP_SECRET"),
      webhookVerifyToken: "loadtest",
      v: "v24.0",
    }),
  );

  // Awaited by handle_post: the 200 goes out once the message is routed (a failure is a 500,
  // and Meta delivers again).
  Whatsapp.on.message = async ({ phoneID, from, message }) => {
    await redis.route(...KEYS, from, message.id, phoneID);
  };

  createServer(async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/webhooks/whatsapp" && req.method === "POST") {
      res.statusCode = await Whatsapp.handle_post(req);
      res.end();
    } else if (path === "/webhooks/whatsapp" && req.method === "GET") {
      try {
        res.end(Whatsapp.handle_get(req));
      } catch (status) {
        res.statusCode = typeof status === "number" ? status : 500;
        res.end();
      }
    } else if (path === "/healthz") {
      res.end("ok");
    } else {
      res.statusCode = 404;
      res.end();
    }
  }).listen(port, "127.0.0.1");
}
