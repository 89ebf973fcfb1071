// Preloaded with `node --require` into a server that listens on every interface:
// a listen call that names a port but no host binds to 127.0.0.1 instead.
"use strict";

const net = require("net");

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && (args[1] === undefined || typeof args[1] === "function")) {
    if (args[1] === undefined) {
      args.splice(1, 1, "127.0.0.1");
    } else {
      args.splice(1, 0, "127.0.0.1");
    }
  } else if (args[0] !== null && typeof args[0] === "object" && args[0].port !== undefined && !args[0].host) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
