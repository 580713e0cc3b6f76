"""The gateway's two front doors, gRPC JobService and REST, over the same job logic."""
