"""`ticketing-healthcheck`: the container healthcheck, with nothing but the image's Python.

    ticketing-healthcheck grpc 127.0.0.1:50052      # the standard gRPC health service
    ticketing-healthcheck http http://127.0.0.1:8000/readyz

Exit 0 when the target answers SERVING / HTTP 200; otherwise exit 1 and say why on stderr.
(Kubernetes probes gRPC and HTTP natively; compose needs a command inside the container.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.readiness import grpc_health_problem, http_health_problem


def main(argv: list[str] | None = None) -> int:
    """Check one target; the exit status says whether it is healthy."""
    parser = argparse.ArgumentParser(
        prog="ticketing-healthcheck",
        description="Exit 0 if a gRPC health service answers SERVING or a URL answers 200.",
    )
    parser.add_argument("kind", choices=("grpc", "http"))
    parser.add_argument("target", help="host:port for grpc, a URL for http")
    args = parser.parse_args(argv)
    check = grpc_health_problem if args.kind == "grpc" else http_health_problem
    problem = asyncio.run(check(args.target))
    if problem is not None:
        print(f"ticketing-healthcheck: {args.target}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
