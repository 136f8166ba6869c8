"""Plain values and rules with no I/O: tokens and keys, errors, the failure memory
(backoff), a TTL cache, credential routes, the settings and a caller's request."""
