"""The `gateway` command: run one service, the whole local stack, migrations and health checks."""

# The services `gateway serve` can run, in the order `gateway up` starts them.
SERVICES = ("edge", "router", "accounting", "sessions", "catalog")
