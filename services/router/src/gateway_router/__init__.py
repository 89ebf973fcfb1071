"""The router: runs provider adapters for requests that the edge dispatches over NATS."""
